#include "redis/src/url.h"

#include <cctype>
#include <cstdlib>

namespace libcache {
namespace redis {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false for a '%' not followed by two hex digits.
bool PercentDecode(const std::string &in, std::string *out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    int hi = i + 1 < in.size() ? HexDigit(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Parses a whole decimal number in [min, max].
bool ParseNumber(const std::string &s, int64_t min, int64_t max, int64_t *out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

// user:password (either side may be empty, the colon may not be missing).
bool ParseUserinfo(const std::string &info, Target *t, std::string *error) {
  size_t colon = info.find(':');
  if (colon == std::string::npos) {
    *error =
        "the part before '@' needs a ':' before the password (redis://user:password@host or "
        "redis://:password@host)";
    return false;
  }
  if (!PercentDecode(info.substr(0, colon), &t->user) ||
      !PercentDecode(info.substr(colon + 1), &t->password)) {
    *error = "bad percent-escape in the user or password (write %XX with two hex digits)";
    return false;
  }
  t->has_password = true;
  if (!t->user.empty() && t->password.empty()) {
    *error = "a user without a password: give both (redis://user:password@host)";
    return false;
  }
  return true;
}

bool ParseDbQuery(const std::string &query, Target *t, std::string *error) {
  if (query.compare(0, 3, "db=") != 0 || query.find('&') != std::string::npos) {
    *error = "unknown URL parameters (only ?db=N is understood)";
    return false;
  }
  if (!ParseNumber(query.substr(3), 0, INT32_MAX, &t->db)) {
    *error = "the database in ?db=N must be a number from 0";
    return false;
  }
  return true;
}

bool ParseTcp(const std::string &rest, Target *t, std::string *error) {
  // rest = host[:port][/db]
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (hostport.find('?') != std::string::npos || path.find('?') != std::string::npos) {
    *error = "URL parameters are not understood in redis:// URLs (give the database as /db)";
    return false;
  }
  std::string port;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) {
      *error = "an IPv6 host lacks its closing ']'";
      return false;
    }
    t->host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      *error = "unexpected characters after the IPv6 host";
      return false;
    }
    if (!after.empty()) port = after.substr(1);
    if (after == ":") port = "x";  // an empty port is an error
  } else {
    size_t colon = hostport.find(':');
    t->host = hostport.substr(0, colon);
    if (colon != std::string::npos) port = hostport.substr(colon + 1);
    if (colon != std::string::npos && port.empty()) port = "x";
  }
  if (t->host.empty()) {
    *error = "the URL has no host (redis://host[:port][/db])";
    return false;
  }
  for (char c : t->host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
          c == ':')) {
      *error = "the host has characters a host name cannot have";
      return false;
    }
  }
  int64_t v = 6379;
  if (!port.empty() && !ParseNumber(port, 1, 65535, &v)) {
    *error = "the port must be a number from 1 to 65535";
    return false;
  }
  t->port = static_cast<int>(v);
  if (!path.empty() && !ParseNumber(path, 0, INT32_MAX, &t->db)) {
    *error = "the database after the host must be a number from 0 (redis://host:port/db)";
    return false;
  }
  return true;
}

bool ParseUnix(const std::string &rest, Target *t, std::string *error) {
  // rest = /path[?db=N]
  size_t q = rest.find('?');
  std::string path = rest.substr(0, q);
  if (q != std::string::npos && !ParseDbQuery(rest.substr(q + 1), t, error)) return false;
  if (path.empty() || path[0] != '/') {
    *error = "a unix socket URL needs an absolute path (unix:///path/to/redis.sock)";
    return false;
  }
  if (!PercentDecode(path, &t->unix_path)) {
    *error = "bad percent-escape in the socket path (write %XX with two hex digits)";
    return false;
  }
  if (t->unix_path.find('\0') != std::string::npos) {
    *error = "the socket path holds a NUL byte";
    return false;
  }
  t->host.clear();
  t->port = 0;
  return true;
}

}  // namespace

std::string Target::Describe() const {
  std::string d;
  if (!unix_path.empty()) {
    d = "unix:" + unix_path + "?db=" + std::to_string(db);
  } else {
    d = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
        std::to_string(port) + "/" + std::to_string(db);
  }
  return d;
}

bool ParseUrl(const std::string &url, Target *out, std::string *error) {
  Target t;
  if (url.find_first_of(std::string("\0\r\n \t", 5)) != std::string::npos) {
    *error = "the URL holds spaces or control characters";
    return false;
  }
  std::string rest;
  bool is_unix;
  if (url.compare(0, 8, "redis://") == 0) {
    rest = url.substr(8);
    is_unix = false;
  } else if (url.compare(0, 7, "unix://") == 0) {
    rest = url.substr(7);
    is_unix = true;
  } else if (url.compare(0, 9, "rediss://") == 0) {
    *error = "TLS (rediss://) is not supported: use redis:// or unix://";
    return false;
  } else {
    *error = "the URL must start with redis:// or unix://";
    return false;
  }
  // The credentials end at the last '@' (a path or host never holds one), so a
  // password with an unescaped '/' or '@' still parses.
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    if (!ParseUserinfo(rest.substr(0, at), &t, error)) return false;
    rest = rest.substr(at + 1);
  }
  if (!(is_unix ? ParseUnix(rest, &t, error) : ParseTcp(rest, &t, error))) return false;
  *out = std::move(t);
  return true;
}

}  // namespace redis
}  // namespace libcache
