#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>

#include "net/connection.h"
#include "store/thread_setup.h"

namespace mqbase::net {

namespace asio = boost::asio;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);
// How long a shutdown waits for connections to write their DISCONNECT before closing them.
constexpr auto kShutdownGrace = std::chrono::seconds(2);
// Events taken per epoll_wait, and epoll rounds per pass before Asio's own work (timers,
// accepts, posted work) gets a turn.
constexpr int kMaxEvents = 256;
constexpr int kRoundsPerPass = 16;

thread_local EventLoop* t_current = nullptr;

int check(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
  return rc;
}
}  // namespace

EventLoop::EventLoop(broker::Broker& broker, unsigned index)
    : broker_(broker),
      index_(index),
      ioc_(1),
      tick_(ioc_),
      epoll_fd_(check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_fd_(check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")),
      epoll_desc_(ioc_, epoll_fd_),
      read_buffer_(std::make_unique<char[]>(kReadBufferSize)),
      events_(kMaxEvents) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // null: the wake eventfd
  check(::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev), "epoll_ctl(eventfd)");
  schedule_tick();
  arm();
}

EventLoop::~EventLoop() {
  join();
  connections_.clear();
  finished_.clear();
  dirty_.clear();
  remote_.clear();
  staged_.clear();
  boost::system::error_code ec;
  epoll_desc_.close(ec);  // closes epoll_fd_
  ::close(wake_fd_);
}

EventLoop* EventLoop::current() { return t_current; }

void EventLoop::start_thread() {
  thread_ = std::thread([this] {
    store::name_this_thread(("mqbase-loop" + std::to_string(index_)).c_str());
    t_current = this;
    ioc_.run();
    t_current = nullptr;
  });
}

void EventLoop::join() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::schedule_tick() {
  tick_.expires_after(kTick);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto now = broker::Client::Clock::now();
    // A passed deadline only requests a close (it completes in a later pass), so the table
    // does not change under this loop.
    for (size_t i = 0; i < connections_.size(); ++i) connections_[i]->check_deadline(now);
    schedule_tick();
  });
}

void EventLoop::adopt(int fd, std::shared_ptr<const Listener> listener, std::string greeting, std::string input,
                      std::string peer) {
  if (stopping_) {  // accepted just before the shutdown reached this loop
    ::close(fd);
    broker::Stats::sub(broker_.stats().sockets_open);
    return;
  }
  auto c = std::make_shared<Connection>(*this, fd, std::move(listener), std::move(greeting), std::move(input),
                                        std::move(peer));
  c->slot = connections_.size();
  connections_.push_back(c);
  c->start();
}

void EventLoop::remove(Connection* c) {
  size_t slot = c->slot;
  finished_.push_back(std::move(connections_[slot]));
  if (slot + 1 != connections_.size()) {
    connections_[slot] = std::move(connections_.back());
    connections_[slot]->slot = slot;
  }
  connections_.pop_back();
  request_flush();  // outside a pass: release it soon
}

void EventLoop::request_flush() {
  if (in_pass_ || flush_posted_) return;
  flush_posted_ = true;
  asio::post(ioc_, [this] { flush_dirty(); });
}

void EventLoop::watch(Connection* c, int fd, bool want_write, bool want_read) {
  epoll_event ev{};
  ev.events = (want_read ? EPOLLIN : 0u) | (want_write ? EPOLLOUT : 0u);
  ev.data.ptr = c;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) < 0) {
    if (errno != ENOENT || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0)
      spdlog::error("epoll_ctl on socket {}: {}", fd, std::strerror(errno));
  }
}

void EventLoop::add(Connection* c, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = c;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0)
    spdlog::error("epoll_ctl(ADD) on socket {}: {}", fd, std::strerror(errno));
}

void EventLoop::schedule_flush(std::shared_ptr<Connection> c) {
  if (current() != this) {
    schedule_remote_flush(std::move(c));
    return;
  }
  dirty_.push_back(std::move(c));
  request_flush();  // a send from a timer or posted work: write soon
}

std::string& EventLoop::staged_for(Connection* c) {
  // Many publishers into one subscriber stage for the same connection message after message.
  if (c == last_staged_) return staged_[last_staged_index_].bytes;
  auto [it, fresh] = staged_index_.try_emplace(c, staged_count_);
  last_staged_ = c;
  last_staged_index_ = it->second;
  if (!fresh) return staged_[it->second].bytes;
  if (staged_count_ == staged_.size()) staged_.emplace_back();
  Staged& s = staged_[staged_count_++];
  s.conn = c->shared_from_this();
  request_flush();
  return s.bytes;
}

void EventLoop::hand_over(Connection* c) {
  auto it = staged_index_.find(c);
  if (it == staged_index_.end()) return;
  Staged& s = staged_[it->second];
  s.conn->take_staged(s.bytes);
}

// The end of a pass: every connection of another loop gets what this loop staged for it, in
// one append under its lock.
void EventLoop::hand_over_staged() {
  for (size_t i = 0; i < staged_count_; ++i) {
    Staged& s = staged_[i];
    if (!s.bytes.empty()) s.conn->take_staged(s.bytes);
    s.conn.reset();
    if (s.bytes.capacity() > EventLoop::kReadBufferSize) std::string().swap(s.bytes);
  }
  staged_count_ = 0;
  staged_index_.clear();
  last_staged_ = nullptr;
}

void EventLoop::schedule_remote_flush(std::shared_ptr<Connection> c) {
  bool wake;
  {
    std::lock_guard lock(remote_mutex_);
    remote_.push_back(std::move(c));
    wake = !remote_woken_;
    remote_woken_ = true;
  }
  if (wake) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

void EventLoop::take_remote() {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  std::lock_guard lock(remote_mutex_);
  remote_woken_ = false;
  if (dirty_.empty()) {
    dirty_.swap(remote_);
  } else {
    for (auto& c : remote_) dirty_.push_back(std::move(c));
    remote_.clear();
  }
}

// Hands over what was staged for other loops, then writes every dirty connection once.
// Writing can finish a connection (and a will published then can dirty or stage others): loop
// until nothing is left.
void EventLoop::flush_dirty() {
  flush_posted_ = false;
  bool was_in_pass = in_pass_;
  in_pass_ = true;
  std::vector<std::shared_ptr<Connection>> batch;
  while (staged_count_ > 0 || !dirty_.empty()) {
    if (staged_count_ > 0) hand_over_staged();
    batch.swap(dirty_);
    for (auto& c : batch) c->flush();
    batch.clear();
  }
  finished_.clear();
  in_pass_ = was_in_pass;
  stop_if_done();
}

void EventLoop::arm() {
  epoll_desc_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (!ec) run_ready();
  });
}

// Asio reports the epoll set readable (its own epoll is edge-triggered): take rounds of events
// until the set is empty, so no readiness is left behind without a new edge, then wait again.
// After kRoundsPerPass rounds the pass yields to Asio's queue and continues from there.
void EventLoop::run_ready() {
  in_pass_ = true;
  busy_.store(true, std::memory_order_relaxed);
  bool drained = false;
  for (int round = 0; round < kRoundsPerPass; ++round) {
    int n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      drained = true;
      break;
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Connection*>(events_[i].data.ptr);
      if (c == nullptr)
        take_remote();
      else
        c->on_events(events_[i].events);
    }
    flush_dirty();
    in_pass_ = true;
  }
  in_pass_ = false;
  busy_.store(false, std::memory_order_relaxed);
  if (stopping_ && connections_.empty()) {
    stop_if_done();
    return;
  }
  if (drained)
    arm();
  else
    asio::post(ioc_, [this] { run_ready(); });
}

void EventLoop::stop_if_done() {
  if (!stopping_ || !connections_.empty()) return;
  tick_.cancel();
  boost::system::error_code ec;
  epoll_desc_.cancel(ec);  // the io_context runs out of work and run() returns
}

void EventLoop::await_durable(std::shared_ptr<Connection> c, uint64_t lsn) {
  // Once on the list: every advance notifies the whole list, whatever LSN each one wants.
  if (c->mark_durable_waiter()) durable_waiters_.push_back(std::move(c));
  // Flag, then look: the writer publishes the LSN, then looks at the flag. One of the two sees
  // the other, so a commit that lands in between is never missed.
  durable_wanted_.store(true);
  auto* persist = broker_.persistence();
  if (persist && persist->durable_lsn() >= lsn && durable_wanted_.exchange(false))
    boost::asio::post(ioc_, [this] { on_durable(broker_.persistence()->durable_lsn()); });
}

void EventLoop::durable_advanced(uint64_t lsn) {
  if (durable_wanted_.load() && durable_wanted_.exchange(false))
    boost::asio::post(ioc_, [this, lsn] { on_durable(lsn); });
}

void EventLoop::on_durable(uint64_t lsn) {
  lsn = std::max(lsn, broker_.persistence()->durable_lsn());
  auto waiters = std::move(durable_waiters_);
  durable_waiters_.clear();
  for (auto& c : waiters) {
    c->unmark_durable_waiter();
    c->on_durable(lsn);  // those still waiting register again
  }
}

void EventLoop::shutdown() {
  asio::post(ioc_, [this] {
    stopping_ = true;
    tick_.cancel();
    // Each connection ends once its DISCONNECT is written; after a grace period the rest
    // (peers that stopped reading) are closed regardless.
    auto snapshot = connections_;
    for (auto& c : snapshot) c->shutdown_by_server();
    flush_dirty();
    if (connections_.empty()) return;
    tick_.expires_after(kShutdownGrace);
    tick_.async_wait([this](const boost::system::error_code&) {
      auto rest = connections_;
      for (auto& c : rest) c->abort();
      flush_dirty();
    });
  });
}

}  // namespace mqbase::net
