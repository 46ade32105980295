// The TCP store's server and client (see tcp_store.h for the protocol).
#include "tcp_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include "../core/error.h"

namespace ck {
namespace dist {
namespace {

enum Op : uint8_t { kSet = 1, kGet = 2, kAdd = 3, kHello = 4, kBye = 5, kLost = 6 };

[[noreturn]] void fail(const std::string& msg) { throw Error("ERR_DIST", msg); }

// Reads exactly n bytes; false on EOF or error. With a poll timeout, also false once `stop` is set.
bool read_all(int fd, void* buf, size_t n, const std::atomic<bool>* stop = nullptr, int timeout_ms = -1) {
  char* p = static_cast<char*>(buf);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (n > 0) {
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, 100);
    if (r < 0 && errno != EINTR) return false;
    if (stop && stop->load()) return false;
    if (r <= 0) {
      if (timeout_ms >= 0 && std::chrono::steady_clock::now() > deadline) return false;
      continue;
    }
    ssize_t k = ::recv(fd, p, n, 0);
    if (k == 0) return false;
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    p += k;
    n -= (size_t)k;
  }
  return true;
}

bool write_all(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= (size_t)k;
  }
  return true;
}

bool write_frame(int fd, uint8_t head, const std::string& key, const std::vector<char>& value, bool with_key) {
  std::vector<char> buf;
  buf.push_back((char)head);
  auto put32 = [&](uint32_t v) { char b[4]; std::memcpy(b, &v, 4); buf.insert(buf.end(), b, b + 4); };
  if (with_key) {
    put32((uint32_t)key.size());
    buf.insert(buf.end(), key.begin(), key.end());
  }
  put32((uint32_t)value.size());
  buf.insert(buf.end(), value.begin(), value.end());
  return write_all(fd, buf.data(), buf.size());
}

bool read_blob(int fd, std::vector<char>* out, const std::atomic<bool>* stop, int timeout_ms) {
  uint32_t n = 0;
  if (!read_all(fd, &n, 4, stop, timeout_ms)) return false;
  if (n > (1u << 30)) return false;
  out->resize(n);
  return n == 0 || read_all(fd, out->data(), n, stop, timeout_ms);
}

std::vector<char> to_bytes(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }

}  // namespace

TcpStoreServer::TcpStoreServer(int port) {
  listen_fd_ = ::socket(AF_INET6, SOCK_STREAM, 0);
  bool v6 = listen_fd_ >= 0;
  if (!v6) listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) fail(std::string("store: socket(): ") + std::strerror(errno));
  int one = 1, zero = 0;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons((uint16_t)port);
    rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons((uint16_t)port);
    rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 || ::listen(listen_fd_, 128) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    fail("rank 0 cannot serve the rendezvous store on port " + std::to_string(port) + ": " + why +
         " (is another job using MASTER_PORT " + std::to_string(port) + "? pick a free one)");
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpStoreServer::~TcpStoreServer() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void TcpStoreServer::accept_loop() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    int r = ::poll(&pfd, 1, 100);
    if (r <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    clients_++;
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void TcpStoreServer::serve(int fd) {
  int rank = -1;
  bool said_bye = false;
  for (;;) {
    uint8_t op = 0;
    std::vector<char> kb, value;
    if (!read_all(fd, &op, 1, &stop_) || !read_blob(fd, &kb, &stop_, -1) || !read_blob(fd, &value, &stop_, -1)) break;
    std::string key(kb.begin(), kb.end());
    uint8_t status = 0;
    std::vector<char> reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      switch (op) {
        case kSet: kv_[key] = value; break;
        case kGet: {
          auto it = kv_.find(key);
          if (it == kv_.end()) status = 1; else reply = it->second;
          break;
        }
        case kAdd: {
          int64_t delta = 0, cur = 0;
          if (value.size() == 8) std::memcpy(&delta, value.data(), 8);
          auto it = kv_.find(key);
          if (it != kv_.end() && it->second.size() == 8) std::memcpy(&cur, it->second.data(), 8);
          cur += delta;
          std::vector<char> b(8);
          std::memcpy(b.data(), &cur, 8);
          kv_[key] = b;
          reply = b;
          break;
        }
        case kHello: rank = std::atoi(key.c_str()); break;
        case kBye: said_bye = true; break;
        case kLost: {
          std::string s;
          for (int r : lost_) s += (s.empty() ? "" : ",") + std::to_string(r);
          reply = to_bytes(s);
          break;
        }
        default: status = 2;
      }
    }
    if (!write_frame(fd, status, "", reply, false)) break;
  }
  if (rank >= 0 && !said_bye && !stop_) {
    std::lock_guard<std::mutex> lock(mu_);
    lost_.insert(rank);
  }
  ::close(fd);
  clients_--;
}

TcpStore::TcpStore(const std::string& host, int port, int rank, std::chrono::milliseconds timeout)
    : host_(host), port_(port), timeout_(timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no attempt";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  while (fd_ < 0) {
    addrinfo* res = nullptr;
    int g = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (g != 0) fail("cannot resolve MASTER_ADDR '" + host + "': " + gai_strerror(g));
    for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        last = std::strerror(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(res);
    if (fd_ >= 0) break;
    if (std::chrono::steady_clock::now() > deadline)
      fail("rank " + std::to_string(rank) + " could not reach the rendezvous store at " + where() + " within " +
           std::to_string(timeout.count()) + " ms (" + last + "): rank 0 never arrived; check MASTER_ADDR/MASTER_PORT");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint8_t st = 0;
  request(kHello, std::to_string(rank), {}, &st);
}

TcpStore::~TcpStore() {
  if (fd_ < 0) return;
  try {
    uint8_t st = 0;
    request(kBye, "", {}, &st);
  } catch (...) {
  }
  if (fd_ >= 0) ::close(fd_);
}

std::vector<char> TcpStore::request(uint8_t op, const std::string& key, const std::vector<char>& value, uint8_t* status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) fail("the rendezvous store at " + where() + " (served by rank 0) is unreachable: rank 0 is lost");
  std::vector<char> reply;
  // A reply takes microseconds; a server that says nothing for the whole timeout is gone.
  if (!write_frame(fd_, op, key, value, true) || !read_all(fd_, status, 1, nullptr, (int)timeout_.count()) ||
      !read_blob(fd_, &reply, nullptr, (int)timeout_.count())) {
    ::close(fd_);
    fd_ = -1;
    fail("the rendezvous store at " + where() + " (served by rank 0) is unreachable: rank 0 is lost");
  }
  return reply;
}

void TcpStore::set(const std::string& key, const std::vector<char>& value) {
  uint8_t st = 0;
  request(kSet, key, value, &st);
}

bool TcpStore::try_get(const std::string& key, std::vector<char>* value) {
  uint8_t st = 0;
  std::vector<char> v = request(kGet, key, {}, &st);
  if (st != 0) return false;
  *value = std::move(v);
  return true;
}

std::vector<char> TcpStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  auto missing = wait({key}, timeout);
  if (!missing.empty()) fail("timed out after " + std::to_string(timeout.count()) + " ms waiting for store key '" + key + "'");
  std::vector<char> v;
  try_get(key, &v);
  return v;
}

int64_t TcpStore::add(const std::string& key, int64_t delta) {
  std::vector<char> b(8);
  std::memcpy(b.data(), &delta, 8);
  uint8_t st = 0;
  std::vector<char> r = request(kAdd, key, b, &st);
  int64_t out = 0;
  if (r.size() == 8) std::memcpy(&out, r.data(), 8);
  return out;
}

std::vector<std::string> TcpStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> missing = keys;
  for (int delay = 1;; delay = std::min(delay * 2, 20)) {
    std::vector<std::string> still;
    std::vector<char> v;
    for (const auto& k : missing)
      if (!try_get(k, &v)) still.push_back(k);
    missing.swap(still);
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
}

std::vector<int> TcpStore::lost_ranks() {
  uint8_t st = 0;
  std::vector<char> r = request(kLost, "", {}, &st);
  std::vector<int> out;
  std::string s(r.begin(), r.end());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(std::atoi(s.substr(i, j - i).c_str()));
    i = j + 1;
  }
  return out;
}

}  // namespace dist
}  // namespace ck
