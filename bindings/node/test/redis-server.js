'use strict';
// A real redis-server on a free loopback port, for the Redis tests (as
// tests/python/redis_server.py does for Python's). start() resolves once it
// answers PING; stop() kills it and removes its directory.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

const REDIS_SERVER = which('redis-server');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.setTimeout(500);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) {
        sock.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

class RedisServer {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcache-node-redis-'));
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = await freePort();
      const env = { ...process.env };
      delete env.LD_PRELOAD;
      this.proc = spawn(
        REDIS_SERVER,
        ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', path.join(this.dir, 'redis.log')],
        { stdio: 'ignore', env }
      );
      let exited = false;
      this.proc.once('exit', () => (exited = true));
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline && !exited) {
        if (await ping(this.port)) return this;
        await new Promise((r) => setTimeout(r, 10));
      }
      this.proc.kill('SIGKILL');
    }
    throw new Error(`redis-server did not start (see ${this.dir}/redis.log)`);
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const gone = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await gone;
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { RedisServer, REDIS_SERVER };
