// Connection: one TCP socket on one event loop. Reads into a buffer and decodes packets in
// place (a packet split across reads waits for its tail), hands them to a broker::Client, and
// implements broker::ClientLink: bytes from any thread are appended to an outgoing buffer
// and written by the loop in one write per batch. Unsent bytes over the limit make
// droppable (QoS 0) sends fail instead of growing memory.
// Thread-safety: send() and close() from any thread; the rest on the owning loop.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <atomic>
#include <mutex>
#include <string>

#include "broker/client.h"
#include "broker/client_link.h"

namespace mqbase::net {

class EventLoop;

class Connection : public broker::ClientLink, public std::enable_shared_from_this<Connection> {
 public:
  Connection(EventLoop& loop, boost::asio::ip::tcp::socket socket);
  ~Connection() override;

  void start();

  bool send(std::string_view bytes, bool droppable) override;
  void close() override;
  void disconnect(mqtt::ReasonCode reason) override;

  // On the loop: called by its tick.
  void check_deadline(broker::Client::Clock::time_point now);
  // On the loop: server shutdown; closes without publishing the will.
  void shutdown_by_server();

 private:
  void read();
  void on_readable();
  // Decodes and handles the whole packets at the front of `data`; returns the bytes used.
  size_t process(std::string_view data);
  void flush();
  void close_socket();
  void finish();

  EventLoop& loop_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<broker::Client> client_;

  std::string partial_;  // the start of a packet whose end has not arrived yet

  std::mutex out_mutex_;
  std::string out_;      // queued, not yet handed to the socket
  std::string writing_;  // being written (loop only)
  size_t pending_ = 0;   // out_ + writing_ bytes
  bool write_active_ = false;  // a flush is posted or a write is in flight
  std::atomic<bool> close_requested_{false};  // written under out_mutex_, read lock-free by process()
  bool closed_ = false;  // socket closed (loop only, but read under out_mutex_ by send)
  bool finished_ = false;
};

}  // namespace mqbase::net
