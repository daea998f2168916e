#include "net/event_loop.h"

#include <boost/asio/post.hpp>
#include <vector>

#include "net/connection.h"

namespace mqbase::net {

namespace asio = boost::asio;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);
}

EventLoop::EventLoop(broker::Broker& broker, unsigned index)
    : broker_(broker), index_(index), ioc_(1), tick_(ioc_) {
  schedule_tick();
}

EventLoop::~EventLoop() { join(); }

void EventLoop::start_thread() {
  thread_ = std::thread([this] { ioc_.run(); });
}

void EventLoop::join() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::schedule_tick() {
  tick_.expires_after(kTick);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto now = broker::Client::Clock::now();
    // Deadline handling may close (and remove) connections: iterate over a snapshot.
    std::vector<std::shared_ptr<Connection>> snapshot;
    snapshot.reserve(connections_.size());
    for (auto& [ptr, c] : connections_) snapshot.push_back(c);
    for (auto& c : snapshot) c->check_deadline(now);
    schedule_tick();
  });
}

void EventLoop::add(std::shared_ptr<Connection> c) {
  Connection* raw = c.get();
  connections_.emplace(raw, std::move(c));
  raw->start();
}

void EventLoop::remove(Connection* c) { connections_.erase(c); }

void EventLoop::shutdown() {
  asio::post(ioc_, [this] {
    stopping_ = true;
    tick_.cancel();
    std::vector<std::shared_ptr<Connection>> snapshot;
    for (auto& [ptr, c] : connections_) snapshot.push_back(c);
    for (auto& c : snapshot) c->shutdown_by_server();
  });
}

}  // namespace mqbase::net
