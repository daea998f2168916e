// EventLoop: one thread, one Asio io_context (timers, accepts, posted work) and, nested in it,
// an epoll set of its own for the MQTT connections. Asio waits on the epoll descriptor; when
// it is readable the loop drains it and calls the connections directly. An idle connection
// so costs one epoll entry in the kernel and nothing in Asio (an Asio socket with a pending
// wait costs about 370 bytes: the reactor's descriptor state and the wait operation).
//
// Writes are batched per loop pass: Connection::send() from this loop's thread marks the
// connection dirty and the loop writes every dirty connection once after the pass; from
// another thread it queues the connection on this loop and wakes it through an eventfd (once
// per pass, however many connections were queued). QoS 0 bytes for a connection of another
// loop are first staged by the sending loop and handed over once at the end of its pass, so
// two loops feeding one subscriber meet on its lock once per pass, not once per message (and
// when the subscriber's loop is busy, the feeding loop writes the bytes to the socket itself).
//
// A periodic tick checks keep-alive and CONNECT deadlines (one timer per loop, not one per
// connection).
// Thread-safety: context() (to post work to the loop), schedule_flush(), busy() and
// shutdown() from any thread; the rest on the loop's own thread.
#pragma once
#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/broker.h"

namespace mqbase::net {

class Connection;
class Listener;

class EventLoop {
 public:
  EventLoop(broker::Broker& broker, unsigned index);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  boost::asio::io_context& context() { return ioc_; }
  broker::Broker& broker() { return broker_; }
  unsigned index() const { return index_; }
  // The loop whose thread is calling, or null.
  static EventLoop* current();

  void start_thread();
  void join();

  // On the loop's thread: a new connection on socket `fd` (non-blocking), accepted by
  // `listener` (see Connection for `greeting`, `input` and `peer`); the loop owns it until it
  // is finished.
  void adopt(int fd, std::shared_ptr<const Listener> listener, std::string greeting = {}, std::string input = {},
             std::string peer = {});
  // On the loop's thread: `c` is finished; it is released after the current pass.
  void remove(Connection* c);

  // A new connection's socket joins the epoll set, readable.
  void add(Connection* c, int fd);
  // The connection's epoll interest: readable unless `want_read` is false (held back),
  // writable while `want_write`. (Closing the socket takes it out of the set: the loop never
  // duplicates a connection's descriptor.)
  void watch(Connection* c, int fd, bool want_write, bool want_read = true);

  // `c` has bytes to write. On the loop's thread it is written after the current pass; from
  // another thread it is queued and the loop woken (schedule_remote_flush).
  void schedule_flush(std::shared_ptr<Connection> c);

  // On the loop's thread: the bytes this loop has staged for `c` (a connection of another
  // loop) in the current pass; created empty on first use.
  std::string& staged_for(Connection* c);
  // On the loop's thread: hands what is staged for `c` over now (before a send that must not
  // overtake it).
  void hand_over(Connection* c);

  // True while the loop is in a pass over its epoll set (read by other loops: a busy loop's
  // connections get written by the loops that feed them).
  bool busy() const { return busy_.load(std::memory_order_relaxed); }

  // The thread's read buffer, shared by every connection of the loop.
  char* read_buffer() { return read_buffer_.get(); }
  static constexpr size_t kReadBufferSize = 64 * 1024;

  // Closes every connection and lets the loop run out. Posts itself to the loop's thread.
  void shutdown();

  // Durability (sync mode). On the loop's thread: `c` waits for the store's durable LSN to
  // reach `lsn`; Connection::on_durable() follows on this loop once it has.
  void await_durable(std::shared_ptr<Connection> c, uint64_t lsn);
  // From the store's writer thread, after each group commit: wakes the loop when one of its
  // connections waits (one post per commit at most, none when nobody waits).
  void durable_advanced(uint64_t lsn);

 private:
  void schedule_tick();
  void arm();            // waits for the epoll set through Asio
  void run_ready();      // drains the epoll set, then arms again
  void flush_dirty();
  void take_remote();
  void stop_if_done();
  void hand_over_staged();
  void request_flush();  // outside a pass: flush_dirty() soon
  void schedule_remote_flush(std::shared_ptr<Connection> c);

  broker::Broker& broker_;
  const unsigned index_;
  boost::asio::io_context ioc_;
  boost::asio::steady_timer tick_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: remote flushes pending
  boost::asio::posix::stream_descriptor epoll_desc_;
  std::unique_ptr<char[]> read_buffer_;
  std::vector<epoll_event> events_;

  std::vector<std::shared_ptr<Connection>> connections_;  // Connection::slot_ indexes it
  std::vector<std::shared_ptr<Connection>> finished_;     // released after the pass
  std::vector<std::shared_ptr<Connection>> dirty_;        // to write after the pass
  struct Staged {
    std::shared_ptr<Connection> conn;
    std::string bytes;
  };
  std::vector<Staged> staged_;  // entries [0, staged_count_) are in use; the rest keep capacity
  size_t staged_count_ = 0;
  std::unordered_map<Connection*, size_t> staged_index_;
  Connection* last_staged_ = nullptr;  // the last staged_for() lookup, kept until the hand-over
  size_t last_staged_index_ = 0;
  bool in_pass_ = false;
  std::atomic<bool> busy_{false};
  bool flush_posted_ = false;

  std::mutex remote_mutex_;
  std::vector<std::shared_ptr<Connection>> remote_;  // under remote_mutex_
  bool remote_woken_ = false;                        // under remote_mutex_

  void on_durable(uint64_t lsn);
  std::vector<std::shared_ptr<Connection>> durable_waiters_;  // loop only
  std::atomic<bool> durable_wanted_{false};

  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mqbase::net
