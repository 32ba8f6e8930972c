// Where the Redis server is and how to log in: the parsed form of a
// redis:// or unix:// URL (cache_redis_options_set_url).
#ifndef LIBCACHE_REDIS_SRC_URL_H_
#define LIBCACHE_REDIS_SRC_URL_H_

#include <cstdint>
#include <string>

namespace libcache {
namespace redis {

struct Target {
  std::string host = "127.0.0.1";  // TCP; empty when unix_path is set
  int port = 6379;
  std::string unix_path;  // unix:// URLs
  std::string user;       // ACL user (AUTH user password); empty: AUTH password
  std::string password;   // empty with has_password false: no AUTH
  bool has_password = false;
  int64_t db = 0;  // SELECT db after connecting when nonzero

  // A description for errors and logs, never with the user or password:
  // "127.0.0.1:6379/0" or "unix:/tmp/redis.sock?db=0".
  std::string Describe() const;
};

// Parses url:
//   redis://[[user]:password@]host[:port][/db]
//   unix://[[user]:password@]/path/to/socket[?db=N]
// The user, the password and the socket path are percent-decoded; an IPv6
// host goes in brackets. Returns true and fills *out, or false and sets *error
// to what is wrong (the message never repeats the user or the password).
bool ParseUrl(const std::string &url, Target *out, std::string *error);

}  // namespace redis
}  // namespace libcache

#endif  // LIBCACHE_REDIS_SRC_URL_H_
