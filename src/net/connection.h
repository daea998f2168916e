// Connection: one TCP socket on one event loop. Reads into the loop's buffer and decodes
// packets in place (a packet split across reads waits for its tail), hands them to a
// broker::Client, and implements broker::ClientLink: bytes from any thread are appended to an
// outgoing buffer that the loop writes once per pass. Unsent bytes over the limit make
// droppable (QoS 0) sends fail instead of growing memory.
// Thread-safety: send(), close() and disconnect() from any thread; the rest on the owning loop.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "broker/client.h"
#include "broker/client_link.h"
#include "broker/mutex.h"
#include "net/transport.h"

struct sockaddr_storage;

namespace mqbase::net {

class EventLoop;
class Listener;

// "host:port" ("[host]:port" for IPv6) of a socket address; empty for other families.
std::string peer_text(const sockaddr_storage& sa);

class Connection final : public broker::ClientLink, public std::enable_shared_from_this<Connection> {
 public:
  // Takes ownership of the non-blocking socket `fd`, accepted by `listener` (null: plain MQTT,
  // anonymous clients allowed; unit tests). `greeting`: bytes to send before anything else,
  // `input`: bytes already read from the socket by whoever handed it over (the HTTP server's
  // WebSocket upgrade). `peer`: the client's address ("host:port") when whoever handed the
  // socket over knew it: the acceptor from accept4() (its listening socket has TCP_NODELAY for
  // the accepted one to inherit), the HTTP server for a WebSocket (it set TCP_NODELAY; for
  // wss:// the socket is one end of the TLS relay's socket pair, whose own peer address would
  // name nobody). Empty (unit tests): start() sets the option and asks the socket.
  Connection(EventLoop& loop, int fd, std::shared_ptr<const Listener> listener = nullptr, std::string greeting = {},
             std::string input = {}, std::string peer = {});
  ~Connection() override;

  // On the loop, once the loop holds the connection: creates the Client, starts reading.
  void start();

  bool send(std::string_view bytes, broker::SendMode mode) override;
  void close() override;
  void disconnect(mqtt::ReasonCode reason) override;
  void pause_reading() override;
  void resume_reading() override;
  size_t unsent_bytes() const override;
  void request_writable_notice() override;
  void await_durable(uint64_t lsn) override;
  void wake_durable() override;
  std::string peer_address() const override { return peer_; }
  broker::LinkSecurity security() const override;
  void defer(std::chrono::milliseconds delay, std::function<void()> fn) override;
  void hold_input(bool on) override;
  // On the loop: the store's durable LSN has reached `lsn` (after await_durable()).
  void on_durable(uint64_t lsn);
  // On the loop, for EventLoop's list of durable waiters: true when this connection was not on
  // it (so it is put there once, however often it asks), and taken off before its on_durable().
  bool mark_durable_waiter() { return !std::exchange(durable_waiter_, true); }
  void unmark_durable_waiter() { durable_waiter_ = false; }

  // On the loop: the socket is ready (epoll events).
  void on_events(uint32_t events);
  // From another loop's thread: the bytes that loop staged for this connection (QoS 0,
  // dropped if the connection is closed). Written from the calling thread when this
  // connection's loop is busy and has nothing of it queued, else appended for the loop to
  // write. Leaves `bytes` empty.
  void take_staged(std::string& bytes);

  // On the loop: writes what is queued (called once per pass for a dirty connection, and with
  // `writable` when a full socket has room again).
  void flush(bool writable = false);
  // On the loop: called by its tick.
  void check_deadline(broker::Client::Clock::time_point now);
  // On the loop: server shutdown; closes without publishing the will.
  void shutdown_by_server();
  // On the loop: closes at once, unsent bytes or not (the end of a shutdown's grace period).
  void abort();

  // Position in the loop's connection table (the loop's bookkeeping).
  size_t slot = 0;

 private:
  void on_readable();
  // The bytes read from the socket, after the transport (if any): handled or kept.
  void take_input(const char* data, size_t size);
  // The bytes read from the socket of a connection with a transport: decoded by it, then
  // take_input() of what they carry.
  void take_wire(const char* data, size_t size);
  // On the loop: bytes the transport sends of its own accord (a handshake, a pong), in order
  // with the application bytes it has encoded so far.
  void send_wire(std::string& bytes);
  // Decodes and handles the whole packets at the front of `data`; returns the bytes used.
  // Stops after a packet that paused reading.
  size_t process(std::string_view data);
  // While paused: handles the acknowledgements (and PINGREQ) in partial_ and takes them out,
  // leaving the other packets in their order.
  void take_acks_while_paused();
  // After packets were handled while paused (or left so): takes the acknowledgements out of
  // what waits, and stops reading once kPausedReadLimit bytes wait.
  void hold_back_rest();
  void resume();  // on the loop: handles what was held back once no reason to pause is left
  void update_interest();
  // Writes writing_ from written_ on; false when the socket failed.
  bool write_out();
  void join_out(std::string& bytes);
  void close_socket();
  void finish();

  EventLoop& loop_;
  int fd_;
  bool want_write_ = false;  // EPOLLOUT is in the interest set (loop only)
  bool finished_ = false;    // loop only
  // Backpressure (loop only): PUBLISHes are not handled while paused_; reading stops when
  // input_stopped_ (paused with kPausedReadLimit bytes waiting in partial_).
  bool paused_ = false;      // congested_ || durable_hold_ (until resume() has run)
  bool congested_ = false;   // pause_reading(): a subscriber's queue is full
  bool durable_waiter_ = false;  // on the loop's list of durable waiters
  bool durable_hold_ = false;  // hold_input(): too many acknowledgements wait for the disk
  bool input_stopped_ = false;
  bool at_eof_ = false;  // the client has closed its side: nothing is held back any more
  bool writable_notice_ = false;  // the Client waits for on_writable() (loop only)
  bool overflowed_ = false;       // unsent bytes passed max_unsent_bytes (under out_mutex_)
  std::unique_ptr<broker::Client> client_;

  std::string partial_;  // the start of a packet whose end has not arrived yet

  broker::Mutex out_mutex_;
  bool flush_scheduled_ = false;  // under out_mutex_
  bool write_busy_ = false;       // writing_ holds unwritten bytes (under out_mutex_)
  bool closed_ = false;           // socket closed (written on the loop under out_mutex_)
  std::atomic<bool> wake_pending_{false};  // wake_durable() has posted, and it has not run yet
  std::atomic<bool> close_requested_{false};  // written under out_mutex_, read lock-free by process()
  std::string out_;      // queued by send(), not yet taken by the loop (under out_mutex_)
  // out_ + the unwritten part of writing_; written under out_mutex_, read lock-free by loops
  // staging QoS 0 bytes for this connection
  std::atomic<size_t> pending_{0};
  std::string writing_;  // taken from out_, being written (loop only)
  // QoS 0 bytes sent from this connection's own loop (SendMode::droppable_batched), appended
  // without the lock; they join out_ at the next flush, or before the loop's next ordered send
  // (loop only).
  std::string local_out_;
  bool local_scheduled_ = false;  // a flush is pending for local_out_ (loop only)
  // local_out_ holds bytes: another loop then hands its bytes over rather than writing them
  // to the socket itself, so the loop writes both in one send (written by the loop only).
  std::atomic<bool> local_pending_{false};
  size_t written_ = 0;   // bytes of writing_ already written (loop only)
  std::string peer_;  // set by the acceptor or by start(), before the client can attach to a session

  // Not plain TCP (TLS, WebSocket): every byte in and out passes through transport_, on the
  // loop. The MQTT bytes queued in out_ are encoded into writing_ by flush(); another loop
  // never writes to the socket itself (take_staged()).
  std::shared_ptr<const Listener> listener_;
  std::unique_ptr<Transport> transport_;  // loop only (encoded under out_mutex_ in flush())
  std::string greeting_, first_input_;    // handed over with the socket, used by start()
  std::string app_in_, wire_out_;          // the transport's scratch buffers (loop only)
  bool goodbye_sent_ = false;              // the transport's close went out (loop only)
  // The timers of defer() not yet fired, cancelled by finish(): a pending timer keeps the
  // loop's io_context running, and a token's expiry may be hours away (loop only).
  struct Deferred;
  std::vector<std::shared_ptr<Deferred>> deferred_;
};

}  // namespace mqbase::net
