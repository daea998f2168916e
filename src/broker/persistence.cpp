// Persistence: the broker's records and their encoding. Keys start with one byte naming the
// kind; a client id inside a key is length-prefixed so that one id is never a prefix of
// another's keys. Integers in keys are big-endian (keys of one session sort by sequence),
// in values little-endian. docs/durability.md lists the kinds.
//
//   s <client id>                          session: incarnation, expiry, disconnect time, will
//   u <u16 len> <client id> <filter>       subscription options
//   q <u16 len> <client id> <u64 seq>      a QoS 1/2 message held for the session
//   p <u16 len> <client id> <u64 seq>      QoS 2 out: its packet id, sent or past PUBREC
//   i <u16 len> <client id> <u16 id>       QoS 2 in: a packet id not yet released
//   r <topic>                              a retained message
#include "broker/persistence.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "broker/session.h"

namespace mqbase::broker {

namespace {

constexpr uint8_t kSessionFormat = 1;

void put_u8(std::string& o, uint8_t v) { o.push_back(static_cast<char>(v)); }
void put_le(std::string& o, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
}
void put_be(std::string& o, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) o.push_back(static_cast<char>(v >> (8 * i)));
}
void put_varint(std::string& o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
}
void put_str(std::string& o, std::string_view s) {
  put_varint(o, s.size());
  o.append(s);
}

// Reads what the put_* functions wrote; every get fails (and stays failed) past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  uint64_t le(int bytes) {
    if (!need(bytes)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(in_[pos_ + i])) << (8 * i);
    pos_ += bytes;
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      auto b = static_cast<uint8_t>(in_[pos_++]);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  std::string_view str() {
    uint64_t n = varint();
    if (!need(n)) return {};
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  bool need(uint64_t n) {
    if (ok_ && in_.size() - pos_ >= n) return true;
    ok_ = false;
    return false;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

uint64_t get_be(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}

std::string client_key(char kind, std::string_view client_id) {
  std::string k;
  k.reserve(3 + client_id.size() + 8);
  k.push_back(kind);
  put_be(k, client_id.size(), 2);
  k.append(client_id);
  return k;
}
std::string session_key(std::string_view client_id) { return std::string("s").append(client_id); }
std::string subscription_key(std::string_view client_id, std::string_view filter) {
  return client_key('u', client_id).append(filter);
}
std::string seq_key(char kind, std::string_view client_id, uint64_t seq) {
  auto k = client_key(kind, client_id);
  put_be(k, seq, 8);
  return k;
}
// The same key in a buffer of the calling thread's, reused: the per-message writes (queued,
// sent, acknowledged) allocate nothing once it has grown. Valid until the next call.
std::string_view seq_key_view(char kind, std::string_view client_id, uint64_t seq) {
  thread_local std::string k;
  k.resize(3 + client_id.size() + 8);
  char* p = k.data();
  p[0] = kind;
  p[1] = static_cast<char>(client_id.size() >> 8);
  p[2] = static_cast<char>(client_id.size());
  std::memcpy(p + 3, client_id.data(), client_id.size());
  p += 3 + client_id.size();
  for (int i = 7; i >= 0; --i) *p++ = static_cast<char>(seq >> (8 * i));
  return k;
}
// A batch of the calling thread's, emptied, for the same writes (Store::write copies it).
store::WriteBatch& scratch_batch() {
  thread_local store::WriteBatch b;
  b.clear();
  return b;
}
std::string incoming_key(std::string_view client_id, uint16_t packet_id) {
  auto k = client_key('i', client_id);
  put_be(k, packet_id, 2);
  return k;
}
std::string retained_key(std::string_view topic) { return std::string("r").append(topic); }

// Splits a client key into the client id and what follows it; false when malformed.
bool split_client_key(std::string_view key, std::string_view& client_id, std::string_view& rest) {
  if (key.size() < 3) return false;
  size_t n = get_be(key, 1, 2);
  if (key.size() < 3 + n) return false;
  client_id = key.substr(3, n);
  rest = key.substr(3 + n);
  return true;
}

enum Flag : uint8_t { kPayloadFormat = 1, kExpires = 2, kContentType = 4, kResponseTopic = 8, kCorrelation = 16 };

void encode_message(std::string& o, const Message& m) {
  put_str(o, m.topic);
  put_str(o, m.payload);
  put_u8(o, m.qos);
  put_u8(o, m.retain ? 1 : 0);
  uint8_t flags = (m.payload_format ? kPayloadFormat : 0) | (m.expires_at ? kExpires : 0) |
                  (m.content_type ? kContentType : 0) | (m.response_topic ? kResponseTopic : 0) |
                  (m.correlation_data ? kCorrelation : 0);
  put_u8(o, flags);
  if (m.payload_format) put_u8(o, *m.payload_format);
  if (m.expires_at) put_le(o, static_cast<uint64_t>(to_wall_ms(*m.expires_at)), 8);
  if (m.content_type) put_str(o, *m.content_type);
  if (m.response_topic) put_str(o, *m.response_topic);
  if (m.correlation_data) put_str(o, *m.correlation_data);
  put_varint(o, m.user_properties.size());
  for (const auto& [k, v] : m.user_properties) {
    put_str(o, k);
    put_str(o, v);
  }
}

std::shared_ptr<Message> decode_message(Reader& r) {
  auto m = std::make_shared<Message>();
  m->topic = r.str();
  m->payload = r.str();
  m->qos = r.u8();
  m->retain = r.u8() != 0;
  uint8_t flags = r.u8();
  if (flags & kPayloadFormat) m->payload_format = r.u8();
  if (flags & kExpires) m->expires_at = from_wall_ms(static_cast<int64_t>(r.le(8)));
  if (flags & kContentType) m->content_type = std::string(r.str());
  if (flags & kResponseTopic) m->response_topic = std::string(r.str());
  if (flags & kCorrelation) m->correlation_data = std::string(r.str());
  uint64_t n = r.varint();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string k(r.str());
    m->user_properties.emplace_back(std::move(k), std::string(r.str()));
  }
  if (!r.ok() || m->qos > 2) return nullptr;
  return m;
}

std::string encode_session(const SessionImage& s) {
  std::string o;
  put_u8(o, kSessionFormat);
  put_le(o, s.incarnation, 8);
  put_le(o, s.expiry_interval, 4);
  put_le(o, static_cast<uint64_t>(s.disconnected_at_ms), 8);
  put_u8(o, s.protocol);
  put_u8(o, s.will ? 1 : 0);
  if (s.will) {
    encode_message(o, *s.will);
    put_le(o, s.will_delay, 4);
    put_le(o, s.will_expiry, 4);
  }
  put_u8(o, s.username ? 1 : 0);
  if (s.username) put_str(o, *s.username);
  return o;
}

bool decode_session(std::string_view client_id, std::string_view v, SessionImage& s) {
  Reader r(v);
  if (r.u8() != kSessionFormat) return false;
  s.client_id = std::string(client_id);
  s.incarnation = r.le(8);
  s.expiry_interval = static_cast<uint32_t>(r.le(4));
  s.disconnected_at_ms = static_cast<int64_t>(r.le(8));
  s.protocol = r.u8();
  if (r.u8()) {
    s.will = decode_message(r);
    if (!s.will) return false;
    s.will_delay = static_cast<uint32_t>(r.le(4));
    s.will_expiry = static_cast<uint32_t>(r.le(4));
  }
  if (!r.done() && r.u8()) s.username = std::make_shared<const std::string>(r.str());  // absent before 0.1.0's user names
  return r.ok();
}

// The value of a 'q' record: the session's incarnation, then how the message goes to it, then
// the message.
void encode_held(std::string& v, uint64_t incarnation, const Message& m, const Delivery& d) {
  put_le(v, incarnation, 8);
  put_u8(v, d.qos);
  put_u8(v, d.retain ? 1 : 0);
  put_varint(v, d.identifiers.size());
  for (uint32_t id : d.identifiers) put_varint(v, id);
  put_str(v, d.share ? std::string_view(*d.share) : std::string_view());
  encode_message(v, m);
}

// Reads what encode_held() wrote into `e` (all but its seq); false when malformed.
bool decode_held(std::string_view value, uint64_t& incarnation, RecoveredEntry& e) {
  Reader r(value);
  incarnation = r.le(8);
  e.qos = r.u8();
  e.retain = r.u8() != 0;
  uint64_t n = r.varint();
  for (uint64_t i = 0; i < n && r.ok(); ++i) e.identifiers.push_back(static_cast<uint32_t>(r.varint()));
  auto share = r.str();
  if (!share.empty()) e.share = std::make_shared<const std::string>(share);
  e.msg = decode_message(r);
  return e.msg && e.qos >= 1 && e.qos <= 2;
}

// The topic + payload bytes of the message in a value encode_held() wrote, without decoding it.
uint64_t held_size(std::string_view value) {
  Reader r(value);
  r.le(8);
  r.u8();
  r.u8();
  uint64_t n = r.varint();
  for (uint64_t i = 0; i < n && r.ok(); ++i) r.varint();
  r.str();
  uint64_t size = r.str().size();
  return size + r.str().size();
}

thread_local Persistence::Tracker t_tracker;

struct ThreadBatch {
  bool active = false;
  store::WriteBatch batch;
  std::vector<std::pair<Session*, uint64_t>> pending;
};
thread_local ThreadBatch t_batch;

}  // namespace

int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t to_wall_ms(Clock::time_point t) {
  return wall_ms_now() + std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
}
Clock::time_point from_wall_ms(int64_t ms) {
  return Clock::now() + std::chrono::milliseconds(ms - wall_ms_now());
}

Persistence::Tracker& Persistence::tracker() { return t_tracker; }

Persistence::Persistence(store::Store& store)
    : store_(store), waits_(store.durability() == store::Durability::sync) {}

void Persistence::begin_batch() {
  t_batch.active = true;
  t_batch.batch.clear();
  t_batch.pending.clear();
}

bool Persistence::batching() const { return t_batch.active; }

void Persistence::note_pending(Session* s, uint64_t seq) { t_batch.pending.emplace_back(s, seq); }

Lsn Persistence::end_batch() {
  if (!t_batch.active) return 0;
  t_batch.active = false;
  Lsn lsn = t_batch.batch.empty() ? 0 : write(t_batch.batch);
  for (auto [session, seq] : t_batch.pending) session->stored_at(seq, lsn);
  t_batch.batch.clear();
  t_batch.pending.clear();
  return lsn;
}

Lsn Persistence::write(const store::WriteBatch& b, Lsn Tracker::*into) {
  if (t_batch.active) {
    store::WriteBatch::for_each(b.rep(), [](bool is_put, std::string_view key, std::string_view value) {
      if (is_put)
        t_batch.batch.put(key, value);
      else
        t_batch.batch.del(key);
    });
    return kLsnPending;
  }
  store::WriteStatus status = store::WriteStatus::ok;
  Lsn lsn = store_.write(b, &status);
  auto& t = tracker();
  if (lsn == 0) {
    t.refused = true;
  } else if (lsn > t.*into) {
    t.*into = lsn;
  }
  return lsn;
}

void Persistence::put_session(const SessionImage& s) {
  store::WriteBatch b;
  b.put(session_key(s.client_id), encode_session(s));
  write(b);
}

void Persistence::delete_session(std::string_view client_id, const std::vector<std::string>& filters,
                                 const std::vector<uint64_t>& seqs, const std::vector<uint16_t>& incoming) {
  store::WriteBatch b;
  b.del(session_key(client_id));
  for (const auto& f : filters) b.del(subscription_key(client_id, f));
  for (uint64_t seq : seqs) {
    b.del(seq_key('q', client_id, seq));
    b.del(seq_key('p', client_id, seq));
  }
  for (uint16_t id : incoming) b.del(incoming_key(client_id, id));
  write(b);
}

void Persistence::put_subscriptions(std::string_view client_id, uint64_t incarnation,
                                    const std::vector<std::pair<std::string, SubscriptionOptions>>& subs) {
  if (subs.empty()) return;
  store::WriteBatch b;
  std::string v;
  for (const auto& [filter, o] : subs) {
    v.clear();
    put_le(v, incarnation, 8);
    put_u8(v, o.qos);
    put_u8(v, static_cast<uint8_t>((o.no_local ? 1 : 0) | (o.retain_as_published ? 2 : 0)));
    put_u8(v, o.retain_handling);
    put_le(v, o.identifier, 4);
    b.put(subscription_key(client_id, filter), v);
  }
  write(b);
}

void Persistence::delete_subscriptions(std::string_view client_id, const std::vector<std::string>& filters) {
  if (filters.empty()) return;
  store::WriteBatch b;
  for (const auto& f : filters) b.del(subscription_key(client_id, f));
  write(b);
}

Lsn Persistence::put_message(std::string_view client_id, uint64_t incarnation, uint64_t seq, const Message& m,
                             const Delivery& d, bool settles) {
  thread_local std::string v;
  v.clear();
  encode_held(v, incarnation, m, d);
  auto& b = scratch_batch();
  b.put(seq_key_view('q', client_id, seq), v);
  // A settling copy's record is not one the PUBACK must wait for once the copy is acknowledged.
  const Lsn lsn = write(b, settles ? &Tracker::settled_by_ack : &Tracker::needed);
  return lsn == kLsnPending ? 0 : lsn;  // in a batch with other writes: not to be taken back alone
}

Lsn Persistence::put_state(std::string_view client_id, uint64_t incarnation, uint64_t seq, uint16_t packet_id,
                           HeldState state) {
  thread_local std::string v;
  v.clear();
  put_le(v, incarnation, 8);
  put_u8(v, static_cast<uint8_t>(state));
  put_le(v, packet_id, 2);
  auto& b = scratch_batch();
  b.put(seq_key_view('p', client_id, seq), v);
  if (state == HeldState::pubrel_sent) b.del(seq_key_view('q', client_id, seq));  // no payload past PUBREC
  return write(b);
}

void Persistence::delete_message(std::string_view client_id, uint64_t seq, bool with_state) {
  auto& b = scratch_batch();
  b.del(seq_key_view('q', client_id, seq));
  if (with_state) b.del(seq_key_view('p', client_id, seq));
  write(b);
}

void Persistence::put_incoming(std::string_view client_id, uint64_t incarnation, uint16_t packet_id) {
  std::string v;
  put_le(v, incarnation, 8);
  store::WriteBatch b;
  b.put(incoming_key(client_id, packet_id), v);
  write(b);
}

void Persistence::delete_incoming(std::string_view client_id, uint16_t packet_id) {
  store::WriteBatch b;
  b.del(incoming_key(client_id, packet_id));
  write(b);
}

void Persistence::put_retained(const Message& m) {
  std::string v;
  encode_message(v, m);
  store::WriteBatch b;
  b.put(retained_key(m.topic), v);
  write(b);
}

void Persistence::delete_retained(std::string_view topic) {
  store::WriteBatch b;
  b.del(retained_key(topic));
  write(b);
}

void Persistence::set_spill(const std::string& dir, size_t in_memory, store::SpillFile::LogFn log) {
  spill_dir_.clear();
  in_memory_ = in_memory;
  spill_log_ = std::move(log);
  if (dir.empty() || in_memory == 0) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // copies of what the log holds: a new start makes new ones
  std::filesystem::create_directories(dir, ec);
  if (ec) throw store::StoreError("cannot create " + dir + ": " + ec.message());
  spill_dir_ = dir;
}

std::unique_ptr<store::SpillFile> Persistence::new_spill_file() {
  if (spill_dir_.empty()) return nullptr;
  uint64_t n = spill_files_.fetch_add(1, std::memory_order_relaxed) + 1;
  return std::make_unique<store::SpillFile>(spill_dir_ + "/" + std::to_string(n) + ".spill", spill_log_);
}

void Persistence::encode_queued(std::string& out, uint64_t seq, uint64_t incarnation, const Message& m,
                                const Delivery& d) {
  put_le(out, seq, 8);
  encode_held(out, incarnation, m, d);
}

bool Persistence::decode_queued(std::string_view in, RecoveredEntry& e) {
  if (in.size() < 8) return false;
  Reader r(in.substr(0, 8));
  e.seq = r.le(8);
  uint64_t incarnation = 0;
  return decode_held(in.substr(8), incarnation, e);
}

// Recovery reads the records kind by kind: first what decides which records are live (session
// records, with their incarnation and expiry), then the small kinds, then the queued messages,
// one session's after another and each session's by sequence number, so that a long queue can
// go to its spill file as it is read. Records of a kind this
// version does not know are left alone.
Recovered Persistence::load() {
  Recovered out;
  struct Partial {
    std::optional<SessionImage> image;
    bool expired = false;
    uint64_t incarnation = ~uint64_t{0};  // of the live session; ~0: none (its records are stale)
    std::vector<std::pair<uint64_t, std::pair<std::string, SubscriptionOptions>>> subs;  // (incarnation, sub)
    std::vector<std::pair<uint64_t, store::ValueLocation>> queued;                        // (seq, where its 'q' lies)
    std::vector<RecoveredEntry> entries;                                                 // by seq
    std::unique_ptr<store::SpillFile> spill;
    uint64_t spilled_bytes = 0, last_spilled_seq = 0;
    std::map<uint64_t, std::tuple<uint64_t, HeldState, uint16_t>> states;                // seq -> (inc, state, id)
    std::vector<std::pair<uint64_t, uint16_t>> incoming;                                 // (incarnation, id)
  };
  std::unordered_map<std::string, Partial> by_client;
  // The records of one client come together: look its entry up once per run of them.
  std::string last_id;
  Partial* last = nullptr;
  auto partial = [&](std::string_view client_id) -> Partial& {
    if (!last || client_id != last_id) {
      last_id.assign(client_id);
      last = &by_client[last_id];
    }
    return *last;
  };
  store::WriteBatch stale;
  auto drop = [&](std::string_view key) {
    stale.del(key);
    if (stale.bytes() >= (8 << 20)) {  // a record has a size limit: write what piles up in parts
      write(stale);
      stale.clear();
    }
  };
  const int64_t now_ms = wall_ms_now();
  const auto now = Clock::now();
  auto note_incarnation = [&](uint64_t inc) { out.max_incarnation = std::max(out.max_incarnation, inc); };
  // Malformed: a record this version cannot use is dropped, counted.
  auto malformed = [&](std::string_view key) {
    ++out.stale_records;
    drop(key);
  };

  store_.for_each("s", [&](std::string_view key, std::string_view value) {
    SessionImage s;
    if (!decode_session(key.substr(1), value, s)) return malformed(key);
    note_incarnation(s.incarnation);
    auto& p = partial(s.client_id);
    // Everything of a client id without a session record, or of an older incarnation, is left
    // over from a session that ended (its deletes were not yet on disk at the crash).
    if (s.expiry_interval != kSessionNeverExpires && s.disconnected_at_ms != 0 &&
        s.disconnected_at_ms + int64_t(s.expiry_interval) * 1000 <= now_ms) {
      p.expired = true;
      ++out.expired_sessions;
    } else {
      p.incarnation = s.incarnation;
    }
    p.image = std::move(s);
  });
  store_.for_each("u", [&](std::string_view key, std::string_view value) {
    std::string_view client_id, rest;
    Reader r(value);
    if (!split_client_key(key, client_id, rest) || rest.empty()) return malformed(key);
    uint64_t inc = r.le(8);
    SubscriptionOptions o;
    o.qos = r.u8();
    uint8_t bits = r.u8();
    o.no_local = bits & 1;
    o.retain_as_published = bits & 2;
    o.retain_handling = r.u8();
    o.identifier = static_cast<uint32_t>(r.le(4));
    if (!r.ok()) return malformed(key);
    note_incarnation(inc);
    partial(client_id).subs.push_back({inc, {std::string(rest), o}});
  });
  store_.for_each("i", [&](std::string_view key, std::string_view value) {
    std::string_view client_id, rest;
    Reader r(value);
    if (!split_client_key(key, client_id, rest) || rest.size() != 2) return malformed(key);
    uint64_t inc = r.le(8);
    if (!r.ok()) return malformed(key);
    note_incarnation(inc);
    partial(client_id).incoming.push_back({inc, static_cast<uint16_t>(get_be(rest, 0, 2))});
  });
  store_.for_each("p", [&](std::string_view key, std::string_view value) {
    std::string_view client_id, rest;
    Reader r(value);
    if (!split_client_key(key, client_id, rest) || rest.size() != 8) return malformed(key);
    uint64_t inc = r.le(8);
    auto state = static_cast<HeldState>(r.u8());
    auto id = static_cast<uint16_t>(r.le(2));
    if (!r.ok() || id == 0 || (state != HeldState::publish_sent && state != HeldState::pubrel_sent))
      return malformed(key);
    note_incarnation(inc);
    partial(client_id).states[get_be(rest, 0, 8)] = {inc, state, id};
  });
  // Queued messages: by client, then by sequence number. Millions of keys sort faster as
  // numbers per client than as strings, and their values are then read in the order they were
  // written (the read buffer takes them in large reads).
  store_.for_each_key("q", [&](std::string_view key, store::ValueLocation where) {
    std::string_view client_id, rest;
    if (!split_client_key(key, client_id, rest) || rest.size() != 8 || where.length < 8) return malformed(key);
    partial(client_id).queued.push_back({get_be(rest, 0, 8), where});
  });
  const size_t in_memory = queue_in_memory();
  std::string spilled;
  for (auto& [client_id, p] : by_client) {
    std::sort(p.queued.begin(), p.queued.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [seq, where] : p.queued) {
      const std::string_view value = store_.recovered_value(where);
      const uint64_t inc = Reader(value).le(8);
      note_incarnation(inc);
      auto st = p.states.empty() ? p.states.end() : p.states.find(seq);
      if (inc != p.incarnation) {
        ++out.stale_records;
        drop(seq_key('q', client_id, seq));
        if (st != p.states.end()) drop(seq_key('p', client_id, seq)), p.states.erase(st);
        continue;
      }
      // A state of another incarnation is stale: its message is queued, not in flight.
      if (st != p.states.end() && std::get<0>(st->second) != inc) {
        ++out.stale_records;
        drop(seq_key('p', client_id, seq));
        p.states.erase(st);
        st = p.states.end();
      }
      // Past the first in_memory messages of a queue, the rest goes to the spill file as it is
      // (its expiry is checked when it is read back). In flight (a 'p' state) stays in memory.
      if (st == p.states.end() && in_memory && (p.spill || p.entries.size() >= in_memory)) {
        if (!p.spill) p.spill = new_spill_file();
        spilled.clear();
        put_le(spilled, seq, 8);
        spilled.append(value);
        p.spill->append(spilled);
        p.spilled_bytes += held_size(value);
        p.last_spilled_seq = seq;
        continue;
      }
      RecoveredEntry e;
      e.seq = seq;
      uint64_t unused = 0;
      if (!decode_held(value, unused, e)) {
        malformed(seq_key('q', client_id, seq));
        continue;
      }
      if (e.msg->expired(now)) {
        ++out.expired_messages;
        drop(seq_key('q', client_id, seq));
        if (st != p.states.end()) drop(seq_key('p', client_id, seq)), p.states.erase(st);
        continue;
      }
      if (st != p.states.end()) {
        const HeldState state = std::get<1>(st->second);
        const uint16_t id = std::get<2>(st->second);
        if (e.qos == 2) {
          e.state = state == HeldState::pubrel_sent ? HeldState::pubrel_sent : HeldState::publish_sent;
          e.packet_id = id;
          if (e.state == HeldState::pubrel_sent) e.msg.reset();
        } else {  // only QoS 2 has states
          ++out.stale_records;
          drop(seq_key('p', client_id, seq));
        }
        p.states.erase(st);
      }
      p.entries.push_back(std::move(e));
    }
    std::vector<std::pair<uint64_t, store::ValueLocation>>().swap(p.queued);
  }
  store_.for_each("r", [&](std::string_view key, std::string_view value) {
    Reader r(value);
    auto m = decode_message(r);
    if (!m) return malformed(key);
    if (m->expired(now)) {
      ++out.expired_messages;
      drop(key);
      return;
    }
    out.retained.push_back(std::move(m));
  });

  for (auto& [client_id, p] : by_client) {
    const uint64_t inc = p.incarnation;
    RecoveredSession s;
    for (auto& [i, sub] : p.subs) {
      if (i == inc) {
        s.subscriptions.push_back(std::move(sub));
      } else {
        ++out.stale_records;
        drop(subscription_key(client_id, sub.first));
      }
    }
    s.entries = std::move(p.entries);
    for (auto& [seq, st] : p.states) {  // no message left: past PUBREC, or stale
      auto [si, state, id] = st;
      if (si == inc && state == HeldState::pubrel_sent) {
        RecoveredEntry e;
        e.seq = seq;
        e.qos = 2;
        e.packet_id = id;
        e.state = HeldState::pubrel_sent;
        s.entries.push_back(std::move(e));
      } else {
        ++out.stale_records;
        drop(seq_key('p', client_id, seq));
      }
    }
    std::sort(s.entries.begin(), s.entries.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    s.spill = std::move(p.spill);
    s.spilled_bytes = p.spilled_bytes;
    s.last_spilled_seq = p.last_spilled_seq;
    for (auto [i, id] : p.incoming) {
      if (i == inc) {
        s.incoming_qos2.push_back(id);
      } else {
        ++out.stale_records;
        drop(incoming_key(client_id, id));
      }
    }
    if (!p.image) continue;
    if (p.expired) {
      drop(session_key(client_id));
      // [MQTT-3.1.2-8]: the will of a session that ended goes out when it ends.
      if (p.image->will) {
        s.image = std::move(*p.image);
        s.image.expiry_interval = 0;
        s.subscriptions.clear();
        s.entries.clear();
        s.spill.reset();
        s.incoming_qos2.clear();
        out.sessions.push_back(std::move(s));
      }
      continue;
    }
    s.image = std::move(*p.image);
    out.sessions.push_back(std::move(s));
  }
  if (!stale.empty()) write(stale);
  return out;
}

}  // namespace mqbase::broker
