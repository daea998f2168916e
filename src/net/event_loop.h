// EventLoop: one Asio io_context run by one thread, and the connections it owns. A periodic
// tick checks their keep-alive and CONNECT deadlines (one timer per loop instead of one per
// connection keeps idle connections cheap).
// Thread-safety: post() from any thread; everything else on the loop's own thread.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <thread>
#include <unordered_map>

#include "broker/broker.h"

namespace mqbase::net {

class Connection;

class EventLoop {
 public:
  EventLoop(broker::Broker& broker, unsigned index);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  boost::asio::io_context& context() { return ioc_; }
  broker::Broker& broker() { return broker_; }
  unsigned index() const { return index_; }

  void start_thread();
  void join();

  // On the loop's thread: takes ownership of `c` until remove().
  void add(std::shared_ptr<Connection> c);
  void remove(Connection* c);

  // Closes every connection and lets the loop run out. Posts itself to the loop's thread.
  void shutdown();

 private:
  void schedule_tick();

  broker::Broker& broker_;
  const unsigned index_;
  boost::asio::io_context ioc_;
  boost::asio::steady_timer tick_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mqbase::net
