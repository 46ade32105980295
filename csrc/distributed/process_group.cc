// The Gloo process group (see process_group.h). Gloo itself is in convkit_gloo.so, loaded on the first
// group (gloo_loader.cc); when it cannot be loaded, creating a group is an ERR_DIST error saying why and
// how to get it.
#include "process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include "../core/error.h"
#include "gloo_loader.h"


namespace ck {
namespace dist {
namespace {


// The local address this host uses to reach MASTER_ADDR: what the peers can reach this rank on, also when
// the host name resolves to a loopback address (Debian's 127.0.1.1).
std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return "127.0.0.1";
  std::string out = "127.0.0.1";
  int fd = ::socket(res->ai_family, SOCK_DGRAM, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
      else
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
      if (buf[0]) out = buf;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(res);
  return out;
}

// The C store of gloo_abi.h over our TCP store, under the key prefix "gloo/". No exception crosses it.
struct StoreShim {
  TcpStore* s;
  static void put(char* err, size_t errlen, const std::string& m) {
    if (err && errlen) std::snprintf(err, errlen, "%s", m.c_str());
  }
  static int set(void* self, const char* key, const void* data, size_t len, char* err, size_t errlen) {
    try {
      const char* d = static_cast<const char*>(data);
      static_cast<StoreShim*>(self)->s->set(std::string("gloo/") + key, std::vector<char>(d, d + len));
      return 0;
    } catch (const std::exception& e) {
      put(err, errlen, e.what());
      return 1;
    }
  }
  static int get(void* self, const char* key, void** data, size_t* len, char* err, size_t errlen) {
    try {
      TcpStore& s = *static_cast<StoreShim*>(self)->s;
      std::vector<char> v = s.get(std::string("gloo/") + key, s.timeout());
      *data = std::malloc(v.empty() ? 1 : v.size());  // freed by release, on this side
      if (!*data) throw std::bad_alloc();
      if (!v.empty()) std::memcpy(*data, v.data(), v.size());
      *len = v.size();
      return 0;
    } catch (const std::exception& e) {
      put(err, errlen, e.what());
      return 1;
    }
  }
  static void release(void*, void* data) { std::free(data); }
  static int wait(void* self, const char* const* keys, size_t n, int64_t timeout_ms, char* err, size_t errlen) {
    try {
      TcpStore& s = *static_cast<StoreShim*>(self)->s;
      std::chrono::milliseconds timeout = timeout_ms < 0 ? s.timeout() : std::chrono::milliseconds(timeout_ms);
      std::vector<std::string> full;
      for (size_t i = 0; i < n; ++i) full.push_back(std::string("gloo/") + keys[i]);
      auto missing = s.wait(full, timeout);
      if (!missing.empty()) {
        put(err, errlen, "timed out after " + std::to_string(timeout.count()) + " ms waiting for the peers' addresses (" + missing[0] + ")");
        return 1;
      }
      return 0;
    } catch (const std::exception& e) {
      put(err, errlen, e.what());
      return 1;
    }
  }
};

int gloo_dtype(DType d) { return d == DType::F32 ? CK_GLOO_F32 : CK_GLOO_I32; }
int gloo_op(RedOp op) {
  switch (op) {
    case RedOp::Max: return CK_GLOO_MAX;
    case RedOp::Min: return CK_GLOO_MIN;
    case RedOp::Product: return CK_GLOO_PRODUCT;
    default: return CK_GLOO_SUM;  // Avg: the sum, divided here afterwards
  }
}
template <class T>
void divide(std::vector<char>& buf, int64_t count, int size) {
  T* p = reinterpret_cast<T*>(buf.data());
  for (int64_t i = 0; i < count; ++i) p[i] = (T)(p[i] / (T)size);
}

}  // namespace

const char* kind_name(CollKind k) {
  switch (k) {
    case CollKind::AllReduce: return "allReduce";
    case CollKind::Broadcast: return "broadcast";
    case CollKind::AllGather: return "allGather";
    case CollKind::ReduceScatter: return "reduceScatter";
    case CollKind::Barrier: return "barrier";
  }
  return "collective";
}

ProcessGroup::ProcessGroup(const InitOptions& o) : rank_(o.rank), size_(o.world_size), timeout_(o.timeout) {
  const GlooLoad& gl = gloo_load();
  if (!gl.ok) fail(gl.error);
  rdv_ = std::make_unique<Rendezvous>(o);
  try {
    connect(o);
  } catch (...) {
    rdv_->leave_and_linger();
    throw;
  }
  worker_ = std::thread([this] { loop(); });
}

ProcessGroup::~ProcessGroup() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (ctx_) {
    gloo_api().close(ctx_);
    gloo_api().destroy(ctx_);
    ctx_ = nullptr;
  }
  rdv_.reset();
}

void ProcessGroup::connect(const InitOptions& o) {
  std::string hostname = o.iface.empty() ? (o.hostname.empty() ? local_address_towards(o.master_addr, rdv_->port()) : o.hostname) : "";
  StoreShim shim{&rdv_->store()};
  ck_gloo_store cs{&shim, &StoreShim::set, &StoreShim::get, &StoreShim::release, &StoreShim::wait};
  char err[2048] = {0};
  ctx_ = gloo_api().connect(rank_, size_, hostname.c_str(), o.iface.c_str(), timeout_.count(), &cs, err, sizeof err);
  if (!ctx_) fail(err);
}

int64_t ProcessGroup::submit(std::shared_ptr<Work> w) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t id = next_id_++;
  works_[id] = w;
  queue_.emplace_back(id, std::move(w));
  cv_.notify_all();
  return id;
}

std::shared_ptr<Work> ProcessGroup::wait(int64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = works_.find(id);
  if (it == works_.end()) throw Error("ERR_ARG", "unknown or already-waited work " + std::to_string(id), ErrorKind::Range);
  std::shared_ptr<Work> w = it->second;
  cv_.wait(lock, [&] { return w->done; });
  works_.erase(id);
  return w;
}

bool ProcessGroup::poll(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = works_.find(id);
  return it == works_.end() || it->second->done;
}

void ProcessGroup::loop() {
  uint32_t tag = 0;
  for (;;) {
    std::shared_ptr<Work> w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      w = queue_.front().second;
      queue_.pop_front();
    }
    std::string err = broken_;
    if (err.empty()) {
      try {
        run(*w, tag++);
      } catch (const std::exception& e) {
        err = std::string(kind_name(w->kind)) + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
              " (timeout " + std::to_string(timeout_.count()) + " ms): " + e.what() + "; " + rdv_->lost_message();
        broken_ = err;
        // Close at once, so peers still blocked on this rank fail now instead of at their timeout.
        gloo_api().close(ctx_);
        rdv_->linger();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      w->error = err;
      w->done = true;
    }
    cv_.notify_all();
  }
}

void ProcessGroup::run(Work& w, uint32_t tag) {
  const GlooApi& g = gloo_api();
  const int dt = gloo_dtype(w.dtype);
  const int64_t ms = timeout_.count();
  char err[2048] = {0};
  int rc = 0;
  switch (w.kind) {
    case CollKind::AllReduce:
    case CollKind::ReduceScatter:
      rc = g.allreduce(ctx_, dt, gloo_op(w.op), w.buf.data(), (size_t)w.count, tag, ms, err, sizeof err);
      if (rc == 0 && w.op == RedOp::Avg) {
        if (w.dtype == DType::F32) divide<float>(w.buf, w.count, size_);
        else divide<int32_t>(w.buf, w.count, size_);
      }
      if (rc == 0 && w.kind == CollKind::ReduceScatter) {
        size_t chunk = w.out.size();
        std::memcpy(w.out.data(), w.buf.data() + chunk * rank_, chunk);
      }
      break;
    case CollKind::Broadcast:
      rc = g.broadcast(ctx_, dt, w.root, w.buf.data(), (size_t)w.count, tag, ms, err, sizeof err);
      break;
    case CollKind::AllGather:
      rc = g.allgather(ctx_, dt, w.buf.data(), w.out.data(), (size_t)w.count, tag, ms, err, sizeof err);
      break;
    case CollKind::Barrier:
      rc = g.barrier(ctx_, tag, ms, err, sizeof err);
      break;
  }
  if (rc != 0) throw std::runtime_error(err);
}

}  // namespace dist
}  // namespace ck
