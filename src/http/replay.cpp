#include "http/replay.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <mutex>

#include "broker/broker.h"
#include "broker/persistence.h"
#include "http/query_runner.h"
#include "http/query_topic.h"
#include "mqtt/topic.h"
#include "query/expr.h"
#include "query/format.h"
#include "store/table_schema.h"
#include "store/tables.h"

namespace mqbase::http {

namespace {

using broker::ReplayFeed;
using Clock = std::chrono::steady_clock;

constexpr size_t kLowWater = 1024;          // fetch the next page when fewer are ready
constexpr size_t kPageTarget = 4096;        // rows a page aims at: the time window adapts
constexpr size_t kPageMax = 65536;          // a page with more is read again in a smaller window
constexpr int64_t kFirstWindow = 10'000'000'000;             // 10 s
constexpr int64_t kMinWindow = 1'000;                        // 1 us
constexpr int64_t kMaxWindow = 30LL * 86400 * 1'000'000'000; // 30 days

int64_t wall_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string_view> levels(std::string_view f) {
  std::vector<std::string_view> out;
  while (true) {
    size_t slash = f.find('/');
    out.push_back(f.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    f.remove_prefix(slash + 1);
  }
}

}  // namespace

bool filter_within(std::string_view inner, std::string_view outer) {
  auto in = levels(inner), out = levels(outer);
  // A filter starting with a wildcard does not match topics starting with '$' ([MQTT-4.7.2-1]).
  if (!in[0].empty() && in[0][0] == '$' && (out[0] == "#" || out[0] == "+")) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == "#") return true;  // the rest of `inner`, even nothing ("a" within "a/#")
    if (i >= in.size() || in[i] == "#") return false;
    if (out[i] == "+") continue;
    if (in[i] == "+" || in[i] != out[i]) return false;
  }
  return in.size() == out.size();
}

bool parse_replay_time(std::string_view text, int64_t now_ns, int64_t* ns, std::string* error) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) {
    *error = "a time is expected (\"2026-12-06T10:00:00Z\", an epoch number, or a duration back from now: \"1h\")";
    return false;
  }
  if (text == "now") {
    *ns = now_ns;
    return true;
  }
  int64_t v = 0;
  if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      ec == std::errc() && p == text.data() + text.size() && text.front() != '-') {
    // An epoch number, its unit told by its size: s (up to 10 digits), ms (13), us (16), ns.
    *ns = text.size() <= 10 ? v * 1'000'000'000 : text.size() <= 13 ? v * 1'000'000 : text.size() <= 16 ? v * 1000 : v;
    return true;
  }
  std::string_view back = text.front() == '-' ? text.substr(1) : text;
  if (auto d = store::tables::parse_duration(back)) {
    *ns = now_ns - *d;
    return true;
  }
  std::string why;
  if (query::parse_timestamp(text, "UTC", ns, &why)) return true;
  *error = "'" + std::string(text) +
           "' is not a time: give an RFC 3339 time (\"2026-12-06T10:00:00Z\"), an epoch number (s, ms, us or ns), "
           "or a duration back from now (\"1h\", \"15m\", \"2d\")";
  return false;
}

struct ArchiveReplay::Shared {
  explicit Shared(store::tables::Tables& t) : tables(t) {}
  store::tables::Tables& tables;
  QueryPool reader{"mqbase-replay", 1, kMaxActive * 2};
  std::atomic<uint64_t> requests{0}, messages{0}, errors{0};
  std::atomic<size_t> active{0};
};

namespace {

struct FeedSpec {
  std::string table, filter, prefix;
  int64_t from = 0, to = INT64_MAX;  // to: the cut, for a subscription (set by start())
  uint8_t qos = 1;
  bool subscription = false;         // the seam applies
  broker::MessagePtr answer;         // db/replay: the answer's topic and correlation data (null: none)
  std::string failure;               // db/replay: the request was refused; only the answer goes
};

class ArchiveFeed : public ReplayFeed, public std::enable_shared_from_this<ArchiveFeed> {
 public:
  ArchiveFeed(std::shared_ptr<ArchiveReplay::Shared> shared, FeedSpec spec)
      : shared_(std::move(shared)), spec_(std::move(spec)), cursor_(spec_.from), failure_(spec_.failure) {
    ++shared_->active;
    cut_.store(spec_.subscription ? INT64_MAX : INT64_MIN);
    finished_ = !failure_.empty();
  }
  ~ArchiveFeed() override { --shared_->active; }

  Next next(Item* out) override {
    std::lock_guard lock(mu_);
    if (cancelled_) return Next::done;
    if (!ready_.empty()) {
      *out = std::move(ready_.front());
      ready_.pop_front();
      ++sent_;
      if (ready_.size() < kLowWater) schedule_locked();
      return Next::message;
    }
    if (!finished_) {
      schedule_locked();
      return Next::later;
    }
    if (spec_.answer && !answered_) {
      answered_ = true;
      out->msg = answer_locked();
      out->qos = spec_.answer->qos;
      return Next::message;
    }
    return Next::done;
  }

  void cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    ready_.clear();
  }

  int64_t cut() const override { return cut_.load(std::memory_order_acquire); }

  // The subscription is made (or the request accepted): read up to now (a subscription) or
  // spec_.to, and call `session` back as pages come.
  void start(const std::shared_ptr<broker::Session>& session) {
    std::lock_guard lock(mu_);
    session_ = session;
    if (spec_.subscription) {
      spec_.to = wall_now_ns();
      cut_.store(spec_.to, std::memory_order_release);
    }
    started_ = true;
    if (finished_ || cursor_ >= spec_.to) {
      finished_ = true;
      post_ready_locked();
    } else {
      schedule_locked();
    }
  }

 private:
  void schedule_locked() {
    if (!started_ || fetching_ || finished_ || cancelled_) return;
    fetching_ = true;
    auto self = shared_from_this();
    if (!shared_->reader.try_submit([self] { self->fetch(); })) {
      fetching_ = false;
      finished_ = true;
      failure_ = "the replay reader is stopping";
    }
  }

  // The session may have nothing in flight to wake it: tell it from the reader's thread.
  void post_ready_locked() {
    if (notify_pending_) return;
    notify_pending_ = true;
    auto self = shared_from_this();
    if (!shared_->reader.try_submit([self] { self->notify(); })) notify_pending_ = false;
  }

  void notify() {
    {
      std::lock_guard lock(mu_);
      notify_pending_ = false;
    }
    if (auto s = session_.lock()) s->replay_ready();
  }

  struct Row {
    int64_t time;
    std::string topic, payload, properties;
    uint8_t qos;
  };

  // On the reader's thread: the next page, into ready_.
  void fetch() {
    std::vector<Row> rows;
    while (true) {
      int64_t from, to, window;
      {
        std::lock_guard lock(mu_);
        if (cancelled_) {
          fetching_ = false;
          return;
        }
        from = cursor_;
        window = window_;
        to = spec_.to - from <= window ? spec_.to : from + window;
      }
      rows.clear();
      std::string error;
      bool ok = read(from, to, rows, &error);
      if (ok && rows.size() > kPageMax && window > kMinWindow) {
        std::lock_guard lock(mu_);
        window_ = std::max(kMinWindow, window / 16);  // too dense: again, in a smaller window
        continue;
      }
      std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.time < b.time; });
      bool more;
      {
        std::lock_guard lock(mu_);
        if (cancelled_) {
          fetching_ = false;
          return;
        }
        if (!ok) {
          failure_ = error;
          finished_ = true;
          spdlog::warn("replay of '{}' from table {}: {}", spec_.filter, spec_.table, error);
        } else {
          for (Row& r : rows) ready_.push_back(to_item(r));
          shared_->messages += rows.size();
          cursor_ = to;
          if (to >= spec_.to) finished_ = true;
          if (rows.size() < kPageTarget / 8) window_ = std::min(kMaxWindow, window_ * 2);
          else if (rows.size() > kPageTarget * 2) window_ = std::max(kMinWindow, window_ / 2);
        }
        // Empty pages do not wake the session: read on until something comes, or the end.
        more = !finished_ && ready_.size() < kLowWater;
        if (!more) fetching_ = false;
      }
      if (!more) break;
    }
    if (auto s = session_.lock()) s->replay_ready();
    else cancel();
  }

  bool read(int64_t from, int64_t to, std::vector<Row>& rows, std::string* error) {
    auto schema = shared_->tables.schema(spec_.table);
    if (!schema) return true;  // nothing archived yet
    int topic_col = -1, payload = -1, qos = -1, props = -1;
    auto tags = schema->tag_indexes();
    auto fields = schema->field_indexes();
    for (size_t k = 0; k < tags.size(); ++k)
      if (schema->columns[tags[k]].name == "topic") topic_col = static_cast<int>(k);
    for (size_t k = 0; k < fields.size(); ++k) {
      const std::string& n = schema->columns[fields[k]].name;
      if (n == "payload") payload = static_cast<int>(k);
      if (n == "qos") qos = static_cast<int>(k);
      if (n == "properties") props = static_cast<int>(k);
    }
    if (topic_col < 0 || payload < 0) {
      *error = "table " + spec_.table + " is not an archive (it needs a topic TAG and a payload column)";
      return false;
    }
    store::tables::ScanSpec ss;
    ss.from = from;
    ss.to = to;
    const bool exact = spec_.filter.find_first_of("+#") == std::string::npos;
    if (exact) ss.tags.emplace_back("topic", spec_.filter);
    return shared_->tables.scan(
        spec_.table, ss,
        [&](const std::vector<std::string>& t, const store::tables::SeriesRows& r) {
          const std::string& topic = t[topic_col];
          if (!exact && !mqtt::topic_matches(spec_.filter, topic)) return;
          const auto& pf = r.fields[payload];
          for (size_t i = 0; i < r.rows(); ++i) {
            Row row{r.times[i], topic, {}, {}, 0};
            if (pf.valid[i]) row.payload = pf.s.empty() ? std::string() : pf.s[i];
            if (qos >= 0 && r.fields[qos].valid[i] && !r.fields[qos].i.empty())
              row.qos = static_cast<uint8_t>(std::clamp<int64_t>(r.fields[qos].i[i], 0, 2));
            if (props >= 0 && r.fields[props].valid[i] && !r.fields[props].s.empty())
              row.properties = r.fields[props].s[i];
            rows.push_back(std::move(row));
          }
        },
        error);
  }

  Item to_item(Row& r) {
    auto m = std::make_shared<broker::Message>();
    m->topic = spec_.prefix.empty() ? std::move(r.topic) : spec_.prefix + "/" + r.topic;
    m->payload = std::move(r.payload);
    m->qos = r.qos;
    m->received_ns = r.time;
    if (!r.properties.empty()) {
      // The user properties, as the archive rule kept them: {"name":"value",...}.
      thread_local simdjson::dom::parser parser;
      simdjson::dom::object obj;
      if (!parser.parse(r.properties).get(obj))
        for (auto [k, v] : obj) {
          std::string_view s;
          if (!v.get(s)) m->user_properties.emplace_back(std::string(k), std::string(s));
        }
    }
    Item it;
    it.qos = std::min(r.qos, spec_.qos);
    it.msg = std::move(m);
    return it;
  }

  broker::MessagePtr answer_locked() {
    auto a = std::make_shared<broker::Message>(*spec_.answer);
    std::chrono::nanoseconds took = Clock::now() - began_;
    if (!failure_.empty()) {
      a->payload = error_json(failure_, took);
    } else {
      a->payload = "{\"success\":true,\"reason\":\"replayed " + std::to_string(sent_) + " message(s)\",\"messages\":" +
                   std::to_string(sent_) + ",\"elapse\":";
      query::append_json_string(query::go_duration(took), a->payload);
      a->payload += "}";
    }
    return a;
  }

  std::shared_ptr<ArchiveReplay::Shared> shared_;
  FeedSpec spec_;
  const Clock::time_point began_ = Clock::now();
  std::atomic<int64_t> cut_;
  std::mutex mu_;
  std::deque<Item> ready_;
  std::weak_ptr<broker::Session> session_;
  int64_t cursor_;
  int64_t window_ = kFirstWindow;
  uint64_t sent_ = 0;
  std::string failure_;
  bool started_ = false, fetching_ = false, finished_ = false, cancelled_ = false, answered_ = false;
  bool notify_pending_ = false;
};

}  // namespace

ArchiveReplay::ArchiveReplay(broker::Broker& broker, store::tables::Tables& tables, broker::MessageSink* next,
                             std::vector<ArchiveSource> sources)
    : broker_(broker), next_(next), sources_(std::move(sources)), shared_(std::make_shared<Shared>(tables)) {}

ArchiveReplay::~ArchiveReplay() { stop(); }

void ArchiveReplay::stop() { shared_->reader.stop(); }

ReplayStats ArchiveReplay::stats() const {
  return {shared_->requests.load(), shared_->messages.load(), shared_->errors.load(), shared_->active.load()};
}

std::shared_ptr<broker::ReplayFeed> ArchiveReplay::prepare(const std::string& filter, uint8_t qos,
                                                           std::string_view from, std::string* error) {
  ++shared_->requests;
  FeedSpec spec;
  spec.filter = filter;
  spec.qos = qos;
  spec.subscription = true;
  for (const auto& s : sources_)
    if (filter_within(filter, s.filter)) {
      spec.table = s.table;
      break;
    }
  if (spec.table.empty()) {
    *error = "replay-from: no archive rule covers '" + filter + "' (an [[ingest]] rule with archive = true whose topic includes it)";
  } else if (parse_replay_time(from, wall_now_ns(), &spec.from, error)) {
    if (shared_->active.load() >= kMaxActive)
      *error = "replay-from: too many replays under way (" + std::to_string(kMaxActive) + "); try again later";
    else
      return std::make_shared<ArchiveFeed>(shared_, std::move(spec));
  } else {
    *error = "replay-from: " + *error;
  }
  ++shared_->errors;
  return nullptr;
}

void ArchiveReplay::start(const std::shared_ptr<broker::ReplayFeed>& feed,
                          const std::shared_ptr<broker::Session>& session) {
  static_cast<ArchiveFeed&>(*feed).start(session);
}

bool ArchiveReplay::wants(std::string_view topic) const {
  return topic == kTopic || (next_ && next_->wants(topic));
}

std::vector<std::pair<std::string, std::string>> ArchiveReplay::sys_figures() const {
  auto figures = next_ ? next_->sys_figures() : std::vector<std::pair<std::string, std::string>>{};
  auto st = stats();
  figures.emplace_back("replay/requests", std::to_string(st.requests));
  figures.emplace_back("replay/messages", std::to_string(st.messages));
  figures.emplace_back("replay/errors", std::to_string(st.errors));
  figures.emplace_back("replay/active", std::to_string(st.active));
  return figures;
}

broker::MessageSink::Outcome ArchiveReplay::take(const broker::Message& m, const Publisher& publisher) {
  if (m.topic != kTopic) return next_ ? next_->take(m, publisher) : Outcome{};
  ++shared_->requests;
  auto session = broker_.find_session(publisher.client_id);
  if (!session) return {};  // gone already

  FeedSpec spec;
  std::string reply;
  std::string& error = spec.failure;
  const int64_t now = wall_now_ns();
  spec.to = now;
  simdjson::dom::parser parser;
  simdjson::dom::object req;
  if (auto e = parser.parse(m.payload).get(req); e) {
    error = std::string("the request is not a JSON object: ") + simdjson::error_message(e) +
            " (e.g. {\"filter\": \"plant/#\", \"from\": \"1h\"})";
  } else {
    auto text = [&](const char* key, std::string* out) {
      simdjson::dom::element v;
      if (req[key].get(v)) return false;
      std::string_view s;
      if (!v.get(s)) *out = std::string(s);
      else if (v.is_int64()) *out = std::to_string(int64_t(v));
      else if (error.empty()) error = std::string("\"") + key + "\" must be a string";
      return true;
    };
    std::string from, to, qos;
    text("reply", &reply);
    if (!text("filter", &spec.filter) && error.empty()) error = "the request needs \"filter\" (a topic filter)";
    if (!text("from", &from) && error.empty()) error = "the request needs \"from\" (a time, or a duration back from now)";
    text("to", &to);
    text("topic", &spec.prefix);
    if (text("qos", &qos) && error.empty()) {
      if (qos != "0" && qos != "1" && qos != "2") error = "\"qos\" must be 0, 1 or 2";
      else spec.qos = static_cast<uint8_t>(qos[0] - '0');
    }
    if (error.empty() && !mqtt::valid_topic_filter(spec.filter)) error = "'" + spec.filter + "' is not a valid topic filter";
    if (error.empty() && !spec.prefix.empty() && !valid_reply_topic(spec.prefix))
      error = "\"topic\" must be a topic name (no wildcards)";
    if (error.empty()) {
      for (const auto& s : sources_)
        if (filter_within(spec.filter, s.filter)) {
          spec.table = s.table;
          break;
        }
      if (spec.table.empty())
        error = "no archive rule covers '" + spec.filter + "' (an [[ingest]] rule with archive = true whose topic includes it)";
    }
    if (error.empty() && parse_replay_time(from, now, &spec.from, &error) && !to.empty())
      parse_replay_time(to, now, &spec.to, &error);
    if (error.empty() && shared_->active.load() >= kMaxActive)
      error = "too many replays under way (" + std::to_string(kMaxActive) + "); try again later";
  }
  // Where the answer goes: the Response Topic (with the Correlation Data), else "reply".
  std::string answer_topic;
  if (m.response_topic && valid_reply_topic(*m.response_topic)) answer_topic = *m.response_topic;
  for (auto& [k, v] : m.user_properties)
    if (k == "reply" && answer_topic.empty() && valid_reply_topic(v)) answer_topic = v;
  if (answer_topic.empty() && valid_reply_topic(reply)) answer_topic = reply;
  if (!answer_topic.empty()) {
    auto a = std::make_shared<broker::Message>();
    a->topic = std::move(answer_topic);
    a->qos = std::min<uint8_t>(m.qos, 1);
    a->correlation_data = m.correlation_data;
    a->content_type = "application/json";
    spec.answer = std::move(a);
  }
  Outcome out;
  if (!error.empty()) {
    ++shared_->errors;
    spdlog::info("db/replay from client {}: {}", publisher.client_id, error);
    out.reason = mqtt::ReasonCode::payload_format_invalid;
    out.reason_string = error;
    if (!spec.answer) return out;
  }
  auto feed = std::make_shared<ArchiveFeed>(shared_, std::move(spec));
  session->begin_replay(feed, 0);
  feed->start(session);
  return out;
}

}  // namespace mqbase::http
