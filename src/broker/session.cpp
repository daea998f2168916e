#include "broker/session.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>

#include "mqtt/encoder.h"
#include "mqtt/properties.h"

namespace mqbase::broker {

using mqtt::PropertyId;

namespace {
thread_local std::string scratch;
thread_local mqtt::Properties scratch_props;
}  // namespace

namespace {
// Live messages received up to this long before a replay's cut may also be in what the replay
// reads (archived, then routed after the subscription was made): the seam compares them.
constexpr int64_t kSeamWindowNs = 5'000'000'000;

int64_t wall_ns_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A message's identity at the seam: its receive time and its bytes.
uint64_t seam_key(const Message& m) {
  uint64_t h = std::hash<std::string_view>()(m.topic);
  h ^= std::hash<std::string_view>()(m.payload) * 0x9e3779b97f4a7c15ull;
  return h ^ static_cast<uint64_t>(m.received_ns) * 0xff51afd7ed558ccdull;
}
}  // namespace

struct Session::ReplayState {
  struct Running {
    std::shared_ptr<ReplayFeed> feed;
    uint32_t identifier = 0;
    std::function<bool(std::string_view)> may_read;  // empty: every topic
  };
  std::deque<Running> feeds;  // the front one sends; the others wait their turn
  // Seam keys: messages the replays sent, and live ones queued, received in the seam window.
  std::unordered_set<uint64_t> replayed, live;
  int64_t done_cut = INT64_MIN;  // the latest cut of the feeds that are done

  ~ReplayState() {
    for (auto& r : feeds) r.feed->cancel();
  }
  // The latest cut: a feed not started yet says INT64_MAX (every live message counts).
  int64_t cut() const {
    int64_t c = done_cut;
    for (auto& r : feeds) c = std::max(c, r.feed->cut());
    return c;
  }
};

Session::Session(std::string client_id, uint32_t expiry_interval, const Limits& limits, Stats& stats)
    : client_id_(std::move(client_id)), limits_(limits), stats_(stats), expiry_interval_(expiry_interval) {}

Session::~Session() = default;

bool Session::clean() const {
  std::lock_guard lock(mutex_);
  return expiry_interval_ == 0;
}

uint32_t Session::expiry_interval() const {
  std::lock_guard lock(mutex_);
  return expiry_interval_;
}

void Session::set_expiry_interval(uint32_t seconds) {
  std::lock_guard lock(mutex_);
  expiry_interval_ = seconds;
}

void Session::set_persistence(Persistence* p, uint64_t incarnation) {
  std::lock_guard lock(mutex_);
  persist_ = p;
  incarnation_ = incarnation;
}

SessionImage Session::image() const {
  std::lock_guard lock(mutex_);
  SessionImage s;
  s.client_id = client_id_;
  s.incarnation = incarnation_;
  s.expiry_interval = expiry_interval_;
  s.disconnected_at_ms = link_ ? 0 : disconnected_wall_ms_;
  s.protocol = protocol_;
  s.username = username_;
  if (will_) {
    s.will = will_->msg;
    s.will_delay = will_->delay;
    s.will_expiry = will_->expiry;
  }
  return s;
}

void Session::set_will(Will w) {
  std::lock_guard lock(mutex_);
  if (w.msg)
    will_ = std::make_unique<Will>(std::move(w));
  else
    will_.reset();
}

void Session::clear_will() {
  std::lock_guard lock(mutex_);
  will_.reset();
}

void Session::clear_will(uint64_t gen) {
  std::lock_guard lock(mutex_);
  if (gen == generation_) will_.reset();
}

bool Session::has_will() const {
  std::lock_guard lock(mutex_);
  return will_ != nullptr;
}

void Session::mark_recorded(bool recorded) {
  std::lock_guard lock(mutex_);
  recorded_ = recorded;
}

bool Session::recorded() const {
  std::lock_guard lock(mutex_);
  return recorded_;
}

namespace {
uint64_t queued_size(const Message& m) { return m.payload.size() + m.topic.size(); }
}  // namespace

void Session::restore(RecoveredSession& r, Clock::time_point disconnected_at) {
  std::lock_guard lock(mutex_);
  disconnected_at_ = disconnected_at;
  disconnected_wall_ms_ = r.image.disconnected_at_ms ? r.image.disconnected_at_ms : wall_ms_now();
  protocol_ = r.image.protocol;
  username_ = r.image.username;
  // QoS 1 in flight before the crash left no record of being sent: it is among the first
  // window's worth of the queue (what was sent is older than what waited), so those go again
  // with DUP. QoS 2 sends wait for their record, so a queued QoS 2 message never went out.
  size_t maybe_sent = our_window();
  for (const auto& e : r.entries) {
    last_seq_ = std::max(last_seq_, e.seq);
    Delivery d{e.qos, e.retain, e.identifiers, e.share, {}};
    switch (e.state) {
      case HeldState::queued: {
        const bool dup = e.qos == 1 && maybe_sent > 0;
        if (dup) --maybe_sent;
        push_queue({e.msg, std::move(d), e.seq, false, 0, dup});
        break;
      }
      case HeldState::publish_sent:
        inflight_.push_back({e.packet_id, InflightState::publish_sent, e.msg, std::move(d), e.seq});
        break;
      case HeldState::pubrel_sent:
        inflight_.push_back({e.packet_id, InflightState::pubrel_sent, nullptr, std::move(d), e.seq});
        break;
    }
  }
  // Ids in flight stay unique; new ones continue after the highest. The restored ids are in
  // the order they went out, but may have wrapped: next_packet_id() searches until they are gone.
  for (const auto& f : inflight_) last_packet_id_ = std::max(last_packet_id_, f.packet_id);
  ids_in_order_ = inflight_.empty();
  if (r.spill && !r.spill->empty()) {  // the queue behind what load() kept in memory
    last_seq_ = std::max(last_seq_, r.last_spilled_seq);
    queued_bytes_ += r.spilled_bytes;
    spill_ = std::move(r.spill);
  }
  if (!r.incoming_qos2.empty())
    incoming_qos2_ = std::make_unique<std::unordered_set<uint16_t>>(r.incoming_qos2.begin(), r.incoming_qos2.end());
}

void Session::durable_records(std::vector<uint64_t>& seqs, std::vector<uint16_t>& incoming) const {
  std::lock_guard lock(mutex_);
  for (const auto& f : inflight_)
    if (f.seq && !(f.delivery.share && f.delivery.qos == 1)) seqs.push_back(f.seq);
  for (const auto& q : queue_)
    if (q.seq && !q.delivery.share) seqs.push_back(q.seq);
  if (spill_)
    spill_->peek_all([&](std::string_view rec) {
      RecoveredEntry e;
      if (Persistence::decode_queued(rec, e) && e.seq && !e.share) seqs.push_back(e.seq);
    });
  if (incoming_qos2_) incoming.assign(incoming_qos2_->begin(), incoming_qos2_->end());
}

size_t Session::window() const {
  return std::min<size_t>(our_window(), link_->peer.receive_maximum);  // link_ is set
}

size_t Session::our_window() const {
  return limits_.max_inflight_messages == 0 ? 65535 : std::min<size_t>(limits_.max_inflight_messages, 65535);
}

uint64_t Session::attach(std::shared_ptr<ClientLink> link, const PeerLimits& peer, uint32_t expiry_interval,
                         std::string_view connack, bool defer_start) {
  std::lock_guard lock(mutex_);
  link->peer = peer;
  link_ = std::move(link);
  expiry_interval_ = expiry_interval;
  protocol_ = static_cast<uint8_t>(peer.version);
  disconnected_wall_ms_ = 0;
  topic_aliases_.reset();  // aliases belong to a connection
  ++generation_;
  connack_.assign(connack);
  if (!defer_start) start_locked();
  return generation_;
}

void Session::set_username(std::shared_ptr<const std::string> username,
                           std::shared_ptr<const auth::TokenGrants> grants) {
  std::lock_guard lock(mutex_);
  username_ = std::move(username);
  grants_ = std::move(grants);
}

std::shared_ptr<const std::string> Session::username() const {
  std::lock_guard lock(mutex_);
  return username_;
}

auth::Identity Session::login() const {
  std::lock_guard lock(mutex_);
  return {username_, grants_};
}

void Session::start(uint64_t gen) {
  std::lock_guard lock(mutex_);
  if (gen == generation_ && link_ && !connack_.empty()) start_locked();
}

void Session::start_locked() {
  link_->send(connack_, SendMode::reliable);
  connack_.clear();
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL, in original order.
  // A QoS 2 message awaiting PUBCOMP still counts against the client's Receive Maximum; the
  // PUBLISHes beyond what it allows now wait for room ([MQTT-4.9.0-2]), keeping their ids.
  size_t outstanding = std::count_if(inflight_.begin(), inflight_.end(),
                                     [](const Inflight& f) { return f.state == InflightState::pubrel_sent; });
  const size_t room = window();
  unsent_ = 0;
  for (auto& f : inflight_) {
    if (f.state == InflightState::pubrel_sent) continue;
    if (f.state == InflightState::publish_stored) {  // never sent: it waits for the disk still
      ++outstanding;
      continue;
    }
    if (outstanding < room) {
      f.state = InflightState::publish_sent;
      ++outstanding;
    } else {
      f.state = InflightState::publish_unsent;
      ++unsent_;
    }
  }
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->state == InflightState::pubrel_sent) {
      send_pubrel(it->packet_id);
    } else if (it->state == InflightState::publish_sent &&
               !send_publish(*it->msg, it->delivery, it->packet_id, true)) {
      forget_durable(it->seq);
      it = inflight_.erase(it);  // too large for this connection's limit: as if delivered
      continue;
    }
    ++it;
  }
  if (persist_) send_stored(persist_->durable_lsn());
  pump();
  // QoS 0 from other threads may now go straight to the link: after the CONNACK and resends.
  fast_link_.store(link_.get(), std::memory_order_release);
}

std::shared_ptr<ClientLink> Session::link() const {
  std::lock_guard lock(mutex_);
  return link_;
}

std::shared_ptr<ClientLink> Session::release_link() {
  std::lock_guard lock(mutex_);
  ++generation_;
  disconnected_at_ = Clock::now();
  disconnected_wall_ms_ = wall_ms_now();
  connack_.clear();
  fast_link_.store(nullptr, std::memory_order_release);
  wake_publishers();  // an offline session does not hold its publishers back
  return std::move(link_);
}

bool Session::detach(uint64_t gen, Clock::time_point now, std::shared_ptr<ClientLink>* released) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return false;
  fast_link_.store(nullptr, std::memory_order_release);
  wake_publishers();  // an offline session does not hold its publishers back
  if (released) *released = std::move(link_);
  link_.reset();
  disconnected_at_ = now;
  disconnected_wall_ms_ = wall_ms_now();
  connack_.clear();
  ++generation_;
  return true;
}

bool Session::is_current(uint64_t gen) const {
  std::lock_guard lock(mutex_);
  return gen == generation_ && link_;
}

bool Session::connected() const {
  std::lock_guard lock(mutex_);
  return link_ != nullptr;
}

bool Session::expired(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (link_ || expiry_interval_ == kSessionNeverExpires) return false;
  return now >= disconnected_at_ + std::chrono::seconds(expiry_interval_);
}

uint16_t Session::next_packet_id() {
  while (true) {
    last_packet_id_ = static_cast<uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    if (inflight_.empty()) {
      ids_in_order_ = true;
      return last_packet_id_;
    }
    // While every id in flight came from here, in send order, they all lie in the cyclic range
    // from the oldest's id to the newest's: an id past the newest is free, without a look at
    // each (the window may be thousands). Only when the ids have come all the way round is
    // the range searched, and an id found inside it breaks the order.
    const uint16_t base = inflight_.front().packet_id;
    const bool past_newest = static_cast<uint16_t>(last_packet_id_ - base) >
                             static_cast<uint16_t>(inflight_.back().packet_id - base);
    if (ids_in_order_ && past_newest) return last_packet_id_;
    bool used = std::any_of(inflight_.begin(), inflight_.end(),
                            [&](const Inflight& f) { return f.packet_id == last_packet_id_; });
    if (!used) {
      if (!past_newest) ids_in_order_ = false;
      return last_packet_id_;
    }
  }
}

namespace {
// Encodes `m` for the client on `link` and sends it. `aliases` holds the session's outgoing
// topic aliases when the client allows them (null otherwise). Returns false when the packet
// would exceed the client's Maximum Packet Size: nothing is sent and it counts as delivered.
bool encode_and_send(ClientLink& link, std::unique_ptr<std::unordered_map<std::string, uint16_t>>* aliases,
                     Stats& stats, const Message& m, const Delivery& d, uint16_t packet_id, bool dup) {
  const PeerLimits& peer = link.peer;
  scratch.clear();
  std::string_view bytes;
  bool new_alias = false;
  if (peer.version != mqtt::Version::v5) {
    if (!d.encoded_v3.empty() && d.qos == 0) {
      bytes = d.encoded_v3;
    } else {
      mqtt::encode_publish(scratch, peer.version, m.topic, m.payload, d.qos, d.retain, dup, packet_id);
      bytes = scratch;
    }
  } else {
    auto& props = scratch_props;
    props.items.clear();
    if (m.payload_format) props.add_number(PropertyId::payload_format_indicator, *m.payload_format);
    if (m.expires_at) {
      // Forward what is left of the interval ([MQTT-3.3.2-6]), rounded up.
      auto left = std::chrono::ceil<std::chrono::seconds>(*m.expires_at - Clock::now()).count();
      props.add_number(PropertyId::message_expiry_interval, static_cast<uint32_t>(std::max<int64_t>(left, 1)));
    }
    if (m.content_type) props.add_string(PropertyId::content_type, *m.content_type);
    if (m.response_topic) props.add_string(PropertyId::response_topic, *m.response_topic);
    if (m.correlation_data) props.add_string(PropertyId::correlation_data, *m.correlation_data);
    for (const auto& [k, v] : m.user_properties) props.add_user(k, v);
    for (uint32_t id : d.identifiers) props.add_number(PropertyId::subscription_identifier, id);
    std::string_view topic = m.topic;
    if (peer.topic_alias_maximum > 0) {
      if (!*aliases) *aliases = std::make_unique<std::unordered_map<std::string, uint16_t>>();
      auto& known = **aliases;
      if (auto it = known.find(m.topic); it != known.end()) {
        props.add_number(PropertyId::topic_alias, it->second);
        topic = {};
      } else if (known.size() < peer.topic_alias_maximum) {
        props.add_number(PropertyId::topic_alias, static_cast<uint32_t>(known.size() + 1));
        new_alias = true;
      }
    }
    if (peer.maximum_packet_size &&
        mqtt::publish_size(peer.version, topic, m.payload.size(), d.qos, &props) > peer.maximum_packet_size) {
      // [MQTT-3.1.2-25]: never send a packet over the client's limit; it counts as delivered.
      stats.drop(DropReason::too_large);
      return false;
    }
    mqtt::encode_publish(scratch, peer.version, topic, m.payload, d.qos, d.retain, dup, packet_id, &props);
    bytes = scratch;
  }
  // A QoS 0 packet may be batched by the sending loop unless it depends on an alias an
  // earlier packet set up (that one could still wait in another loop's batch).
  SendMode mode = d.qos > 0 || d.paced             ? SendMode::reliable
                  : peer.topic_alias_maximum > 0 ? SendMode::droppable
                                                 : SendMode::droppable_batched;
  if (link.send(bytes, mode)) {
    // The alias is the client's only once the packet that sets it up is on its way: a
    // dropped QoS 0 packet must not leave an alias behind that the client never saw.
    if (new_alias) (*aliases)->emplace(m.topic, static_cast<uint16_t>((*aliases)->size() + 1));
    stats.sent(d.qos, m.payload.size());
    Stats::add(stats.messages_sent);
  } else if (d.qos == 0) {
    stats.drop(DropReason::slow_client);
  }
  return true;
}
}  // namespace

bool Session::send_publish(const Message& m, const Delivery& d, uint16_t packet_id, bool dup) {
  return encode_and_send(*link_, &topic_aliases_, stats_, m, d, packet_id, dup);
}

void Session::send_pubrel(uint16_t packet_id, mqtt::ReasonCode reason) {
  scratch.clear();
  mqtt::encode(mqtt::PubAck{mqtt::PacketType::pubrel, packet_id, reason, {}}, link_->peer.version, scratch);
  link_->send(scratch, SendMode::reliable);
}

bool Session::queue_full() const {
  return (limits_.max_queued_messages != 0 && queue_size() >= limits_.max_queued_messages) ||
         (limits_.max_queued_bytes != 0 && queued_bytes_ >= limits_.max_queued_bytes);
}

void Session::push_queue(Queued q) {
  queued_bytes_ += queued_size(*q.msg);
  // Behind a spill file that is not empty, always: the order holds even for a message that
  // needed no record. A new spill file only for durable sessions (their queue has no limit).
  const size_t in_memory = persist_ ? persist_->queue_in_memory() : 0;
  if (spill_ || (in_memory && q.seq && queue_.size() >= in_memory)) {
    if (!spill_) spill_ = persist_->new_spill_file();
    if (spill_) {
      thread_local std::string rec;
      rec.clear();
      Persistence::encode_queued(rec, q.seq, incarnation_, *q.msg, q.delivery);
      spill_->append(rec);
      return;
    }
  }
  queue_.push_back(std::move(q));
}

void Session::unspill(size_t max) {
  if (!spill_) return;
  spill_->read(max, [&](std::string_view rec) {
    RecoveredEntry e;
    if (!Persistence::decode_queued(rec, e)) return;  // cannot be: it was encoded by this process
    queue_.push_back({std::move(e.msg), Delivery{e.qos, e.retain, std::move(e.identifiers), std::move(e.share), {}}, e.seq});
  });
  if (spill_->empty()) {
    const bool lost = spill_->lost() > 0;
    spill_.reset();
    if (lost) {  // what could not be read back no longer counts (the log keeps it for the next start)
      queued_bytes_ = 0;
      for (const auto& q : queue_) queued_bytes_ += queued_size(*q.msg);
    }
  }
}

std::optional<Session::Queued> Session::pop_queue() {
  if (queue_.empty()) unspill(std::max<size_t>(1, persist_ ? persist_->queue_in_memory() : 1));
  if (queue_.empty()) return std::nullopt;
  Queued q = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= queued_size(*q.msg);
  if (spill_) {
    // Read back in large steps: from half full to full.
    const size_t in_memory = persist_->queue_in_memory();
    if (queue_.size() <= in_memory / 2) unspill(in_memory - queue_.size());
  }
  return q;
}

void Session::wake_publishers() {
  if (!paused_publishers_) return;
  auto paused = std::move(paused_publishers_);
  for (auto& w : *paused)
    if (auto link = w.lock()) link->resume_reading();
}

void Session::send_new(Queued q) {
  uint16_t id = next_packet_id();
  if (q.seq && q.delivery.qos == 2 && persist_) {
    // QoS 2: a restart must resend it under the same id, or the client could take it twice;
    // and it goes out only once that is on disk (see InflightState::publish_stored).
    Lsn lsn = persist_->put_sent(client_id_, incarnation_, q.seq, id);
    if (persist_->acks_wait()) {
      const Lsn durable = persist_->durable_lsn();
      bool first = std::none_of(inflight_.begin(), inflight_.end(),
                                [](const Inflight& f) { return f.state == InflightState::publish_stored; });
      // Behind earlier ones still waiting, it waits too, even when its own record is already
      // durable (the writer can sync it before this line) or was refused (lsn 0): sent at
      // once, it would overtake them, and a publisher's messages would arrive out of order.
      if (lsn > durable || !first) {
        inflight_.push_back(
            {id, InflightState::publish_stored, std::move(q.msg), std::move(q.delivery), q.seq, lsn, q.settles, 0});
        if (lsn == kLsnPending)
          persist_->note_pending(this, q.seq);  // its LSN comes with Persistence::end_batch()
        else if (lsn <= durable)
          send_stored(durable);  // the earlier ones that are durable, in order, then this one
        else if (first)
          link_->await_durable(lsn);
        return;
      }
    }
  }
  if (!send_publish(*q.msg, q.delivery, id, q.maybe_sent)) {
    forget_durable(q.seq);  // too large for this client: as if delivered
    return;
  }
  inflight_.push_back(
      {id, InflightState::publish_sent, std::move(q.msg), std::move(q.delivery), q.seq, 0, q.settles, q.put_lsn});
}

void Session::stored_at(uint64_t seq, Lsn lsn) {
  std::lock_guard lock(mutex_);
  for (auto& f : inflight_) {
    if (f.seq == seq && f.state == InflightState::publish_stored && f.lsn == kLsnPending) {
      f.lsn = lsn;
      break;
    }
  }
  if (!live() || !persist_) return;
  Lsn durable = persist_->durable_lsn();
  if (lsn <= durable)
    send_stored(durable);
  else
    link_->await_durable(lsn);
}

void Session::on_durable(Lsn durable) {
  std::lock_guard lock(mutex_);
  if (live()) send_stored(durable);
}

void Session::send_stored(Lsn durable) {
  Lsn waiting = 0;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->state != InflightState::publish_stored) {
      ++it;
      continue;
    }
    if (it->lsn > durable) {
      // Nothing behind it goes first: the order they went in flight is the order they go out.
      // kLsnPending: its batch is not written yet; Persistence::end_batch() calls stored_at().
      if (it->lsn != kLsnPending) waiting = it->lsn;
      break;
    }
    if (!send_publish(*it->msg, it->delivery, it->packet_id, false)) {
      forget_durable(it->seq);
      it = inflight_.erase(it);
      continue;
    }
    it->state = InflightState::publish_sent;
    ++it;
  }
  if (waiting) link_->await_durable(waiting);
}

void Session::begin_replay(std::shared_ptr<ReplayFeed> feed, uint32_t identifier,
                           std::function<bool(std::string_view topic)> may_read) {
  std::lock_guard lock(mutex_);
  if (!replay_) replay_ = std::make_unique<ReplayState>();
  replay_->feeds.push_back({std::move(feed), identifier, std::move(may_read)});
  replaying_.store(true, std::memory_order_release);
}

void Session::recheck_queue(std::function<bool(std::string_view topic)> may_read) {
  std::lock_guard lock(mutex_);
  if (may_read) recheck_ = std::make_unique<std::function<bool(std::string_view)>>(std::move(may_read));
}

void Session::replay_ready() {
  std::lock_guard lock(mutex_);
  if (replay_ && live()) pump();
}

size_t Session::replays() const {
  std::lock_guard lock(mutex_);
  return replay_ ? replay_->feeds.size() : 0;
}

bool Session::replayed_already(const Message& msg) {
  ReplayState& rs = *replay_;
  const int64_t cut = rs.cut();
  const int64_t t = msg.received_ns;
  if (rs.feeds.empty() && (cut == INT64_MIN || wall_ns_now() - kSeamWindowNs > cut)) {
    // Every replay is done and no live message can still meet one of its copies.
    replay_.reset();
    replaying_.store(false, std::memory_order_release);
    return false;
  }
  if (t == 0 || cut == INT64_MIN || t >= cut || (cut != INT64_MAX && t < cut - kSeamWindowNs)) return false;
  const uint64_t key = seam_key(msg);
  if (rs.replayed.erase(key)) return true;
  rs.live.insert(key);
  return false;
}

bool Session::pump_replay() {
  ReplayState& rs = *replay_;
  const size_t byte_mark = limits_.max_write_buffer == 0 ? SIZE_MAX : limits_.max_write_buffer / 2;
  while (!rs.feeds.empty()) {
    if (inflight_.size() >= window()) return false;  // an acknowledgement pumps again
    if (link_->unsent_bytes() >= byte_mark) {
      link_->request_writable_notice();  // Client::on_writable() pumps again
      return false;
    }
    auto& run = rs.feeds.front();
    ReplayFeed::Item item;
    switch (run.feed->next(&item)) {
      case ReplayFeed::Next::later:
        return false;  // the feed calls replay_ready()
      case ReplayFeed::Next::done:
        // A feed that never started (cancelled: its subscription was refused) has no cut.
        if (run.feed->cut() != INT64_MAX) rs.done_cut = std::max(rs.done_cut, run.feed->cut());
        rs.feeds.pop_front();
        if (rs.feeds.empty()) rs.live.clear();  // no replay left to meet them
        continue;
      case ReplayFeed::Next::message:
        break;
    }
    if (run.may_read && !run.may_read(item.msg->topic)) continue;  // as a live delivery would be
    const int64_t cut = run.feed->cut(), t = item.msg->received_ns;
    if (cut != INT64_MIN && t < cut && t >= cut - kSeamWindowNs) {
      const uint64_t key = seam_key(*item.msg);
      if (rs.live.erase(key)) continue;  // it came live meanwhile and waits in the queue
      rs.replayed.insert(key);
    }
    Delivery d{item.qos, false, {}, {}, {}};
    if (run.identifier) d.identifiers.push_back(run.identifier);
    if (d.qos == 0)
      send_publish(*item.msg, d, 0, false);
    else
      send_new({std::move(item.msg), std::move(d)});
  }
  return true;
}

void Session::pump() {
  if (!live()) return;
  // First the PUBLISHes held back at the reconnect, in their order, then the queue behind them.
  for (auto it = inflight_.begin(); unsent_ > 0 && it != inflight_.end() && inflight_.size() - unsent_ < window();) {
    if (it->state != InflightState::publish_unsent) {
      ++it;
      continue;
    }
    --unsent_;
    if (!send_publish(*it->msg, it->delivery, it->packet_id, true)) {
      forget_durable(it->seq);
      it = inflight_.erase(it);  // too large for this connection's limit: as if delivered
      continue;
    }
    it->state = InflightState::publish_sent;
    ++it;
  }
  // The live messages wait behind a replay under way.
  const bool replay_first = replay_ && !replay_->feeds.empty() && (unsent_ > 0 || !pump_replay());
  std::optional<Clock::time_point> now;  // read the clock only for messages that can expire
  while (!replay_first && unsent_ == 0 && !queue_empty() && inflight_.size() < window()) {
    auto popped = pop_queue();
    if (!popped) break;
    Queued& q = *popped;
    if (q.msg->expires_at) {
      if (!now) now = Clock::now();
      if (q.msg->expired(*now)) {  // [MQTT-3.3.2-5]: not delivered once expired
        forget_durable(q.seq);
        continue;
      }
    }
    if (recheck_ && !(*recheck_)(q.msg->topic)) {
      forget_durable(q.seq);
      stats_.drop(DropReason::not_authorized);
      continue;
    }
    if (q.delivery.qos == 0) {  // queued behind a replay
      send_publish(*q.msg, q.delivery, 0, false);
      continue;
    }
    send_new(std::move(q));
  }
  if (recheck_ && queue_empty()) recheck_.reset();  // what came in since was checked as it came
  // Publishers held back resume once the queue is down to half its limits (not at the first
  // free slot, so they do not stop and start at every acknowledgement).
  if (paused_publishers_ &&
      (limits_.max_queued_messages == 0 || queue_size() <= limits_.max_queued_messages / 2) &&
      (limits_.max_queued_bytes == 0 || queued_bytes_ <= limits_.max_queued_bytes / 2))
    wake_publishers();
}

bool Session::deliver(const MessagePtr& msg, const Delivery& d, const std::shared_ptr<ClientLink>* publisher) {
  std::lock_guard lock(mutex_);
  if (msg->expires_at && msg->expired(Clock::now())) return false;  // no clock read for the common case
  bool behind_replay = false;
  if (replay_) {
    if (replayed_already(*msg)) return false;  // a replay sent its archived copy
    behind_replay = replay_ && !replay_->feeds.empty();
  }
  if (d.qos == 0) {
    if (behind_replay) {
      // Waits behind the replay, while the queue has room (QoS 0 is never kept offline).
      if (!live()) return false;
      if (queue_full()) {
        stats_.drop(DropReason::queue_full);
        return false;
      }
      Delivery kept = d;
      kept.encoded_v3 = {};  // the caller's buffer
      push_queue({msg, std::move(kept)});
      pump();  // a replay that is done (or was cancelled) lets the queue go now
      return false;
    }
    if (live()) send_publish(*msg, d, 0, false);  // QoS 0 is not queued for offline sessions
    return false;
  }
  const bool hold_back = link_ && limits_.queue_full_policy == QueueFullPolicy::backpressure;
  // A durable session's queue is bounded by the store (storage.disk_budget), not by the queue
  // limits: what it could not keep, the store refuses, and the publisher hears of it instead
  // of being acknowledged. Connected, the limits still apply (backpressure, or drop).
  if (queue_full() && !hold_back && !(durable() && !link_)) {
    stats_.drop(DropReason::queue_full);
    return false;
  }
  // A session that outlives its connection keeps the message on disk before it is sent, so
  // that the publisher's acknowledgement (which waits for this record) means it is kept.
  uint64_t seq = 0;
  bool settles = false;
  Lsn put_lsn = 0;
  if (durable()) {
    seq = ++last_seq_;
    // A QoS 1 copy to a connected subscriber that its PUBACK may settle before the record is
    // on disk (Message::unsettled); any other copy's record is one the publisher waits for.
    settles = d.qos == 1 && !d.share && live() && Persistence::tracker().routing == msg.get();
    if (settles) msg->unsettled.n.fetch_add(1, std::memory_order_relaxed);
    put_lsn = persist_->put_message(client_id_, incarnation_, seq, *msg, d, settles);
  }
  // Keep order behind anything already waiting.
  if (live() && !behind_replay && queue_empty() && unsent_ == 0 && inflight_.size() < window()) {
    send_new({msg, d, seq, settles, put_lsn});
    return false;
  }
  push_queue({msg, d, seq, settles, put_lsn});
  if (behind_replay) pump();  // a replay that is done (or was cancelled) lets the queue go now
  if (!hold_back || !publisher || !*publisher || !queue_full()) return false;
  if (!paused_publishers_) paused_publishers_ = std::make_unique<std::vector<std::weak_ptr<ClientLink>>>();
  auto& paused = *paused_publishers_;
  bool known = std::any_of(paused.begin(), paused.end(), [&](const auto& w) { return w.lock() == *publisher; });
  if (!known) paused.push_back(*publisher);
  return true;
}

bool Session::deliver_qos0(const Message& msg, const Delivery& d) {
  if (replaying_.load(std::memory_order_acquire)) return false;  // the seam and the queue need the lock
  ClientLink* link = fast_link_.load(std::memory_order_acquire);
  if (!link) return true;  // not connected: QoS 0 is not kept
  if (link->peer.topic_alias_maximum > 0) return false;
  if (msg.expires_at && msg.expired(Clock::now())) return true;
  encode_and_send(*link, nullptr, stats_, msg, d, 0, false);
  return true;
}

void Session::settle(const Message& msg) {
  // The last copy the publisher's PUBACK waited for has arrived: wake the publisher.
  if (msg.unsettled.n.fetch_sub(1, std::memory_order_acq_rel) == 1)
    if (auto publisher = msg.publisher.lock()) publisher->wake_durable();
}

void Session::on_puback(uint64_t gen, uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.delivery.qos == 1;
  });
  if (it == inflight_.end()) return;
  if (it->state == InflightState::publish_unsent) --unsent_;  // it had arrived before the reconnect
  // Acknowledged before its record went to the disk: the record never goes (nor a delete).
  if (!persist_ || !persist_->cancel_message(it->put_lsn))
    forget_durable(it->seq, /*with_state=*/false);  // QoS 1 keeps no state record
  if (it->settles) settle(*it->msg);
  inflight_.erase(it);
  pump();
}

std::optional<mqtt::ReasonCode> Session::on_pubrec(uint64_t gen, uint16_t packet_id, bool error) {
  std::lock_guard lock(mutex_);
  if (gen != generation_ || !link_) return std::nullopt;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.delivery.qos == 2;
  });
  if (it != inflight_.end() && it->state == InflightState::publish_unsent) {
    --unsent_;  // it had arrived before the reconnect
    it->state = InflightState::publish_sent;
  }
  if (error) {
    // v5: a PUBREC with a failure reason ends the flow ([MQTT-4.3.3-4]): no PUBREL.
    if (it != inflight_.end()) {
      forget_durable(it->seq);
      inflight_.erase(it);
    }
    pump();
    return std::nullopt;
  }
  // v5: nothing of ours has this id; say so ([MQTT-4.3.3-...], reason 0x92).
  if (it == inflight_.end()) return mqtt::ReasonCode::packet_identifier_not_found;
  // Once the PUBREL is out the PUBLISH must never go again ([MQTT-4.3.3-...]): the caller sends
  // it only when this record is on disk, or a restart would resend the PUBLISH instead.
  if (it->state != InflightState::pubrel_sent && it->seq && persist_)
    persist_->put_released(client_id_, incarnation_, it->seq, packet_id);
  it->state = InflightState::pubrel_sent;
  it->msg.reset();  // the payload is no longer needed once the receiver has it
  return mqtt::ReasonCode::success;
}

void Session::on_pubcomp(uint64_t gen, uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.state == InflightState::pubrel_sent;
  });
  if (it == inflight_.end()) return;
  forget_durable(it->seq);
  inflight_.erase(it);
  pump();
}

bool Session::begin_incoming_qos2(uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (!incoming_qos2_) incoming_qos2_ = std::make_unique<std::unordered_set<uint16_t>>();
  return incoming_qos2_->insert(packet_id).second;
}

void Session::persist_incoming_qos2(uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (durable()) persist_->put_incoming(client_id_, incarnation_, packet_id);
}

bool Session::release_incoming_qos2(uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (!incoming_qos2_ || incoming_qos2_->erase(packet_id) == 0) return false;
  if (incoming_qos2_->empty()) incoming_qos2_.reset();  // the usual state: nothing awaiting PUBREL
  if (persist_) persist_->delete_incoming(client_id_, packet_id);
  return true;
}

size_t Session::incoming_qos2_count() const {
  std::lock_guard lock(mutex_);
  return incoming_qos2_ ? incoming_qos2_->size() : 0;
}

std::vector<std::shared_ptr<const std::string>> Session::shared_groups_held() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const std::string>> out;
  auto note = [&](const Delivery& d) {
    if (d.share && std::none_of(out.begin(), out.end(), [&](const auto& s) { return *s == *d.share; }))
      out.push_back(d.share);
  };
  for (const auto& f : inflight_)
    if (f.delivery.qos == 1) note(f.delivery);
  for (const auto& q : queue_) note(q.delivery);
  if (spill_)
    spill_->peek_all([&](std::string_view rec) {
      RecoveredEntry e;
      if (Persistence::decode_queued(rec, e) && e.share) note(Delivery{e.qos, e.retain, {}, e.share, {}});
    });
  return out;
}

std::vector<Undelivered> Session::take_shared_messages(const std::function<bool(const std::string&)>& take) {
  std::lock_guard lock(mutex_);
  std::vector<Undelivered> out;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    // A QoS 2 message once sent stays with this member: it must finish the delivery when it
    // comes back, and no one else may have it if it does not ([MQTT-4.8.2-4/5]).
    if (it->delivery.share && it->delivery.qos == 1 && take(*it->delivery.share)) {
      if (it->state == InflightState::publish_unsent) --unsent_;
      out.push_back({std::move(it->msg), std::move(it->delivery), it->seq});
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  // The spill file's part of the queue comes into memory first: a shared message may be in it.
  while (spill_) unspill(65536);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->delivery.share && take(*it->delivery.share)) {
      queued_bytes_ -= queued_size(*it->msg);
      out.push_back({std::move(it->msg), std::move(it->delivery), it->seq});
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void Session::remember_subscription(const std::string& filter, SubscriptionOptions opts) {
  std::lock_guard lock(mutex_);
  subscriptions_[filter] = opts;
}

void Session::forget_subscription(const std::string& filter) {
  std::lock_guard lock(mutex_);
  subscriptions_.erase(filter);
}

bool Session::has_subscription(const std::string& filter) const {
  std::lock_guard lock(mutex_);
  return subscriptions_.count(filter) > 0;
}

size_t Session::subscription_count() const {
  std::lock_guard lock(mutex_);
  return subscriptions_.size();
}

std::map<std::string, SubscriptionOptions> Session::take_subscriptions() {
  std::lock_guard lock(mutex_);
  auto subs = std::move(subscriptions_);
  subscriptions_.clear();
  return subs;
}

std::vector<std::string> Session::subscription_filters() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(subscriptions_.size());
  for (const auto& [filter, opts] : subscriptions_) out.push_back(filter);
  return out;
}

size_t Session::queued() const {
  std::lock_guard lock(mutex_);
  return queue_size();
}

size_t Session::queued_in_memory() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

size_t Session::inflight() const {
  std::lock_guard lock(mutex_);
  return inflight_.size();
}

Session::Info Session::info() const {
  Info i;
  i.client_id = client_id_;
  std::shared_ptr<ClientLink> link;
  {
    std::lock_guard lock(mutex_);
    i.connected = link_ != nullptr;
    link = link_;
    i.protocol = protocol_;
    i.expiry_interval = expiry_interval_;
    i.queued = queue_size();
    i.inflight = inflight_.size();
    i.disconnected_wall_ms = disconnected_wall_ms_;
    i.subscriptions = subscriptions_;
    i.username = username_;
  }
  if (link) i.address = link->peer_address();
  return i;
}

}  // namespace mqbase::broker
