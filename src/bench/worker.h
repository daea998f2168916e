// Worker: one event loop of `mqbase bench`, on its own thread, driving its share of the run's
// connections over raw non-blocking sockets with Linux epoll directly (no client library, no
// Asio): the load generator must stay well ahead of the broker it measures.
//
// Design. Level-triggered epoll; EPOLLOUT is armed only while a socket has unsent bytes. Each
// loop iteration (1) handles the ready sockets: one large recv per socket, then every whole
// packet in the buffer is framed with mqtt::parse_fixed_header and decoded with
// mqtt::decode_packet in place; acknowledgements are appended to the connection's output;
// (2) lets every publisher append as many PUBLISH packets as its flow-control window, its
// rate and a 64 KiB batch allow — each one a copy of a PUBLISH encoded once by
// mqtt::encode_publish with its packet id and payload header patched in; (3) writes each
// socket's output with one send(). Buffers are sized once per connection, so nothing is
// allocated per message.
//
// The storm (--storm): from storm_begin_ns to end_ns each worker starts its share of the
// storm clients at an even pace. A storm client connects, subscribes to its filters in one
// SUBSCRIBE, sends DISCONNECT once the SUBACK is in and is done when the broker closes the
// connection (so the broker, not the generator, is left with the TIME_WAIT). Its Conn then
// goes back to a pool for the next one.
//
// Thread-safety: configure (add_*) before start(); afterwards only wake(), the live_*
// counters and waiting_for_peers are touched from other threads. Results (collect) are read
// after join().
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/latency_histogram.h"
#include "bench/plan.h"
#include "bench/run_context.h"
#include "mqtt/decoder.h"
#include "mqtt/packet.h"

namespace mqbase::bench {

struct WorkerTotals {
  uint64_t received = 0;             // PUBLISH packets received by subscribers
  uint64_t foreign = 0;              // ... without a bench payload header
  uint64_t delivered_in_window = 0;  // received within the measured window
  uint64_t sent_in_window = 0;       // published within the measured window
  uint64_t ack_errors = 0;           // v5 acknowledgements with a failure reason code
  uint64_t stalls = 0;               // windows given up on after a silent broker (QoS 0 loss)
  uint64_t delivered_in_storm = 0;   // received within the storm half of the window
  uint32_t connected = 0;
  uint32_t disconnects = 0;          // lost after they were up
  uint64_t storm_clients = 0;        // storm clients done (subscribed, disconnected, closed)
  uint64_t storm_clients_in_window = 0;  // ... of which done before end_ns
  uint64_t storm_failures = 0;
  LatencyHistogram latency;          // messages sent within the measured window
  LatencyHistogram connect_latency;  // TCP connect -> CONNACK (-> SUBACK)
  LatencyHistogram storm_latency;    // a storm client's TCP connect -> SUBACK
};

class Worker {
 public:
  Worker(RunContext& ctx, unsigned index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add_publisher(const PublisherPlan& p);
  void add_subscriber(const SubscriberPlan& s);
  void add_idle(uint32_t id);

  void start();
  void join();
  // Interrupts epoll_wait (a phase change, or peers' progress). Safe from any thread.
  void wake();

  // After join(): per-publisher sent and acknowledged counts (indexed by publisher id; the
  // vectors are sized by the caller), and the loop's totals.
  void collect(std::vector<uint64_t>& sent, std::vector<uint64_t>& acked) const;
  const WorkerTotals& totals() const { return totals_; }

  // Live counters for the runner's progress lines and drain check (relaxed, approximate).
  std::atomic<uint64_t> live_sent{0};
  std::atomic<uint64_t> live_acked{0};
  std::atomic<uint64_t> live_received{0};
  std::atomic<uint64_t> live_unique{0};
  std::atomic<uint64_t> live_expected{0};
  std::atomic<uint64_t> live_delivered_in_window{0};
  std::atomic<uint64_t> live_sent_in_window{0};
  std::atomic<uint64_t> live_storm_clients{0};
  std::atomic<bool> stopped{false};  // left its loop

  // Set while one of this worker's publishers waits for subscribers on another worker; the
  // worker that makes them progress clears it and wakes this one.
  std::atomic<bool> waiting_for_peers{false};

 private:
  struct Conn;
  struct Publisher;

  void run();
  void open_more(int64_t now);
  void open(Conn& c, int64_t now);
  void on_tcp_connected(Conn& c, int64_t now);
  void tls_handshake(Conn& c, int64_t now);
  void send_connect(Conn& c, int64_t now);
  ssize_t read_some(Conn& c, char* buf, size_t len);
  ssize_t write_some(Conn& c, const char* data, size_t len);
  void on_event(Conn& c, uint32_t events, int64_t now);
  void on_readable(Conn& c);
  bool handle_packet(Conn& c, const mqtt::FixedHeader& h, std::string_view body, int64_t now);
  void on_publish(Conn& c, const mqtt::Publish& p, int64_t now);
  void on_ready(Conn& c, int64_t now);
  void storm_more(int64_t now);
  void on_storm_suback(Conn& c, const mqtt::Suback& a, int64_t now);
  void end_storm_client(Conn& c, const std::string& why);
  void pump(Conn& c, Publisher& p, int64_t now);
  void append_ack(Conn& c, mqtt::PacketType type, uint16_t packet_id);
  void mark_dirty(Conn& c);
  bool flush(Conn& c, int64_t now);
  void watch(Conn& c, bool want_write);
  void fail(Conn& c, const std::string& why);
  void close_conn(Conn& c);
  void close_all();
  void keep_alive(int64_t now);
  void publish_live();
  void wake_waiting_peers();
  int64_t next_timeout_ns(int64_t now) const;

  RunContext& ctx_;
  unsigned index_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
  std::vector<Conn*> dirty_;
  size_t next_to_open_ = 0;
  uint32_t handshakes_ = 0;  // connections between socket() and ready
  uint32_t max_handshakes_ = 1;
  double open_rate_per_ns_ = 0;
  int64_t open_start_ns_ = 0;
  uint64_t opened_ = 0;
  int64_t last_keep_alive_ns_ = 0;

  // The storm. Conns of storm clients are pooled: `storm_closed_` holds the ones closed since
  // the last pass over dirty_ (they may still be listed there), `storm_free_` the reusable ones.
  std::vector<std::unique_ptr<Conn>> storm_pool_;
  std::vector<Conn*> storm_free_;
  std::vector<Conn*> storm_closed_;
  double storm_rate_per_ns_ = 0;  // this worker's share
  uint64_t storm_started_ = 0;
  uint32_t storm_in_flight_ = 0;
  uint32_t max_storm_in_flight_ = 1;

  // Scratch for one pass of the loop, kept as members so nothing is allocated per message.
  mqtt::Packet packet_;
  bool more_to_send_ = false;     // a publisher stopped at the batch cap
  int64_t next_due_ns_ = 0;       // earliest rate-limited send (0 = none)
  int64_t stall_check_ns_ = 0;    // earliest window give-up (0 = none)
  bool waiting_cross_thread_ = false;
  bool progressed_ = false;       // streams advanced since the last wake_waiting_peers()
  bool running_seen_ = false;

  uint64_t sent_total_ = 0, acked_total_ = 0, received_total_ = 0, unique_total_ = 0, expected_total_ = 0;
  WorkerTotals totals_;
};

}  // namespace mqbase::bench
