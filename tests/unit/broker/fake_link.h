// FakeLink: an in-memory ClientLink for the broker tests. It records every byte the broker
// sends, can pretend its write buffer is full (droppable sends are then refused, as
// net::Connection does for a slow reader), remembers close(), and decodes what it recorded
// back into packets so tests assert on packets rather than on bytes.
// Thread-safety: send/close may be called from any thread; take() from the test thread.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/client_link.h"
#include "mqtt/decoder.h"
#include "mqtt/packet.h"

namespace mqbase::broker::testing {

class FakeLink : public ClientLink {
 public:
  bool send(std::string_view bytes, SendMode mode) override {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    if (mode != SendMode::reliable && full_) {
      ++refused_;
      return false;
    }
    pending_.append(bytes);
    return true;
  }

  void close() override {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ++close_calls_;
  }

  // The server ends the connection for `reason` (a takeover, shutdown, ...): recorded, then
  // closed as the default ClientLink does.
  void disconnect(mqtt::ReasonCode reason) override {
    {
      std::lock_guard lock(mutex_);
      disconnect_reason_ = reason;
    }
    close();
  }

  // A held PUBACK may go (ClientLink::wake_durable): counted; the test then calls the
  // Client's on_durable() as the link's loop would.
  void wake_durable() override {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  int wakes() const {
    std::lock_guard lock(mutex_);
    return wakes_;
  }

  // ClientLink::defer: run at once, as the default does; after hold_deferred(), kept until
  // run_deferred(), to test what a timer does and when it was set for.
  void defer(std::chrono::milliseconds delay, std::function<void()> fn) override {
    {
      std::lock_guard lock(mutex_);
      if (hold_deferred_) {
        deferred_.push_back({delay, std::move(fn)});
        return;
      }
    }
    fn();
  }
  void hold_deferred() {
    std::lock_guard lock(mutex_);
    hold_deferred_ = true;
  }
  // The delays of the calls held and not yet run, in the order they were deferred.
  std::vector<std::chrono::milliseconds> deferred_delays() const {
    std::lock_guard lock(mutex_);
    std::vector<std::chrono::milliseconds> out;
    for (const auto& d : deferred_) out.push_back(d.delay);
    return out;
  }
  // Runs the held calls as their timers would: in order of their delays (earliest first),
  // each unless the link has closed by then. Returns how many ran.
  int run_deferred() {
    std::vector<Deferred> due;
    {
      std::lock_guard lock(mutex_);
      due.swap(deferred_);
    }
    std::stable_sort(due.begin(), due.end(), [](const Deferred& a, const Deferred& b) { return a.delay < b.delay; });
    int ran = 0;
    for (auto& d : due) {
      if (closed()) break;
      d.fn();
      ++ran;
    }
    return ran;
  }

  // While set, droppable sends are refused as if the write buffer were over its limit.
  void set_full(bool full) {
    std::lock_guard lock(mutex_);
    full_ = full;
  }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  int close_calls() const {
    std::lock_guard lock(mutex_);
    return close_calls_;
  }
  std::optional<mqtt::ReasonCode> disconnect_reason() const {
    std::lock_guard lock(mutex_);
    return disconnect_reason_;
  }
  int refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  // Bytes sent since the last take().
  std::string pending() const {
    std::lock_guard lock(mutex_);
    return pending_;
  }

  // Decodes every packet sent since the last call, in send order. The packets view into
  // storage this link keeps for its whole life, so they stay valid after later sends.
  std::vector<mqtt::Packet> take(mqtt::Version version = mqtt::Version::v311) {
    std::lock_guard lock(mutex_);
    kept_.push_back(std::move(pending_));
    pending_.clear();
    std::string_view in(kept_.back());
    std::vector<mqtt::Packet> out;
    while (!in.empty()) {
      mqtt::FixedHeader h;
      if (mqtt::parse_fixed_header(in, mqtt::kMaxRemainingLength + 5, h) != mqtt::FrameStatus::ok) {
        ADD_FAILURE() << "the broker sent bytes that do not frame as a packet";
        break;
      }
      mqtt::Packet p;
      auto r = mqtt::decode_packet(h, in.substr(h.header_length, h.remaining_length), version, p);
      if (!r.ok()) {
        ADD_FAILURE() << "the broker sent a packet that does not decode: " << r.error;
        break;
      }
      out.push_back(std::move(p));
      in.remove_prefix(h.total());
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::string pending_;
  std::deque<std::string> kept_;  // deque: elements never move, so views into them stay valid
  bool full_ = false;
  bool closed_ = false;
  int close_calls_ = 0;
  int refused_ = 0;
  int wakes_ = 0;
  std::optional<mqtt::ReasonCode> disconnect_reason_;
  struct Deferred {
    std::chrono::milliseconds delay;
    std::function<void()> fn;
  };
  bool hold_deferred_ = false;
  std::vector<Deferred> deferred_;
};

// "CONNACK", "PUBLISH", ... for each packet, to compare whole sequences at once.
inline std::vector<std::string> type_names(const std::vector<mqtt::Packet>& packets) {
  std::vector<std::string> names;
  for (const auto& p : packets) names.emplace_back(mqtt::packet_type_name(mqtt::type_of(p)));
  return names;
}

// The publishes among `packets`, in order.
inline std::vector<mqtt::Publish> publishes(const std::vector<mqtt::Packet>& packets) {
  std::vector<mqtt::Publish> out;
  for (const auto& p : packets)
    if (const auto* pub = std::get_if<mqtt::Publish>(&p)) out.push_back(*pub);
  return out;
}

}  // namespace mqbase::broker::testing
