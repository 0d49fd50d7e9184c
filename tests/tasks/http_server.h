// A small HTTP/1.1 server on 127.0.0.1 for the downloader tests: it serves bodies by path, honours
// "Range: bytes=N-", and injects the faults a real network produces (5xx, a connection dropped mid-body, a stall).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wr::test {

class HttpServer {
 public:
  struct Route {
    std::string body;
    int status = 200;        // 404 etc.: every request gets it
    int fail_first = 0;      // the first N requests get a 500
    int64_t drop_after = -1; // the first full-body request sends this many bytes, then closes
    bool stall = false;      // headers and 10 bytes, then nothing until the client gives up
  };

  HttpServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~HttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_thread_.join();
    for (auto& t : workers_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void route(const std::string& path, Route r) {
    std::lock_guard<std::mutex> lock(mu_);
    routes_[path] = std::move(r);
  }
  int hits(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_[path];
  }
  std::vector<std::string> ranges(const std::string& path) {  // the Range headers received, "" when none
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_[path];
  }

 private:
  void accept_loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  static void send_all(int c, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  void serve(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    const size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
    const std::string path = sp1 == std::string::npos ? "" : req.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string range;
    if (size_t at = req.find("Range: bytes="); at != std::string::npos) range = req.substr(at + 13, req.find("\r\n", at) - at - 13);
    Route r;
    int hit;
    bool found;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hit = ++hits_[path];
      ranges_[path].push_back(range);
      found = routes_.count(path) > 0;
      if (found) r = routes_[path];
      if (found && r.drop_after >= 0 && range.empty()) routes_[path].drop_after = -1;  // drop once
    }
    auto status_line = [](int code) {
      return std::string("HTTP/1.1 ") + std::to_string(code) + (code < 300 ? " OK" : " Error") + "\r\n";
    };
    if (!found || r.status != 200 || hit <= r.fail_first) {
      const int code = !found ? 404 : r.status != 200 ? r.status : 500;
      send_all(c, status_line(code) + "Content-Length: 5\r\nConnection: close\r\n\r\nerror");
    } else {
      const int64_t from = range.empty() ? 0 : std::stoll(range);
      const std::string body = r.body.substr(static_cast<size_t>(std::min<int64_t>(from, r.body.size())));
      std::string head = status_line(range.empty() ? 200 : 206) + "Content-Length: " + std::to_string(body.size()) + "\r\n";
      if (!range.empty()) head += "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(r.body.size() - 1) + "/" +
                                  std::to_string(r.body.size()) + "\r\n";
      send_all(c, head + "Connection: close\r\n\r\n");
      if (r.stall) {
        send_all(c, body.substr(0, 10));
        char b;
        for (int i = 0; i < 200 && !stop_ && ::recv(c, &b, 1, MSG_DONTWAIT) != 0; ++i)  // until the client hangs up
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      } else if (r.drop_after >= 0 && range.empty()) {
        send_all(c, body.substr(0, static_cast<size_t>(r.drop_after)));
      } else {
        send_all(c, body);
      }
    }
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::map<std::string, Route> routes_;
  std::map<std::string, int> hits_;
  std::map<std::string, std::vector<std::string>> ranges_;
};

}  // namespace wr::test
