// The rendezvous key-value store, as PyTorch's TCPStore: rank 0 serves it on MASTER_ADDR:MASTER_PORT,
// every rank (rank 0 included) holds one client connection for the life of the process group. Gloo's
// address exchange and (later) the ncclUniqueId exchange go through it. Because each client introduces
// itself with its rank and says goodbye on a clean shutdown, a connection that drops without a goodbye
// marks that rank as lost: survivors of a failed collective ask the store which rank went away.
//
// Wire format, both directions: [u8 op][u32 key length][key][u32 value length][value]; the reply is
// [u8 status][u32 value length][value]. GET never blocks on the server: clients poll until a deadline,
// so no server thread ever waits on a client.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ck {
namespace dist {

class TcpStoreServer {
 public:
  explicit TcpStoreServer(int port);  // listens on every interface; throws ERR_DIST when the port is taken
  ~TcpStoreServer();
  int port() const { return port_; }
  int clients() const { return clients_.load(); }  // open client connections  // the bound port (the one asked for, or the one picked for port 0)
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

 private:
  void accept_loop();
  void serve(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> clients_{0};
  std::mutex mu_;
  std::map<std::string, std::vector<char>> kv_;
  std::set<int> lost_;  // ranks whose connection dropped without a goodbye
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

class TcpStore {
 public:
  // Connects (retrying until timeout: the server may start later than this rank) and says which rank it is.
  TcpStore(const std::string& host, int port, int rank, std::chrono::milliseconds timeout);
  ~TcpStore();  // says goodbye unless the connection is already broken
  TcpStore(const TcpStore&) = delete;
  TcpStore& operator=(const TcpStore&) = delete;

  void set(const std::string& key, const std::vector<char>& value);
  bool try_get(const std::string& key, std::vector<char>* value);
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout);  // waits for the key
  int64_t add(const std::string& key, int64_t delta);
  // Waits for every key; returns the keys still missing at the deadline (empty: all there).
  std::vector<std::string> wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  std::vector<int> lost_ranks();
  std::chrono::milliseconds timeout() const { return timeout_; }
  std::string where() const { return host_ + ":" + std::to_string(port_); }

 private:
  std::vector<char> request(uint8_t op, const std::string& key, const std::vector<char>& value, uint8_t* status);
  std::mutex mu_;
  int fd_ = -1;
  std::string host_;
  int port_;
  std::chrono::milliseconds timeout_;
};

}  // namespace dist
}  // namespace ck
