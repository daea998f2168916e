#include "http/query_topic.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/persistence.h"
#include "store/thread_setup.h"

namespace mqbase::http {

namespace {

// Collects an answer into one message payload.
class MessageAnswer : public AnswerOutput {
 public:
  std::string body;
  int status = 0;
  std::string content_type;
  void whole(int s, std::string_view ct, bool, std::string b) override {
    status = s;
    content_type = ct;
    body = std::move(b);
  }
  // QueryLimits::may_stream is false: never called.
  void stream_begin(std::string_view, bool) override {}
  bool stream_bytes(std::string_view) override { return false; }
  void stream_end() override {}
  void stream_abort(const std::string&) override {}
};

}  // namespace

bool valid_reply_topic(std::string_view t) {
  return !t.empty() && t.find_first_of("+#") == std::string_view::npos && t.find('\0') == std::string_view::npos;
}

QueryTopic::QueryTopic(broker::Broker& broker, broker::MessageSink* next, QueryPool& pool, Execute execute,
                       QueryLimits limits)
    : broker_(broker), next_(next), pool_(pool), execute_(std::move(execute)), limits_(limits) {
  limits_.may_stream = false;
  sigset_t quit, previous;
  sigemptyset(&quit);
  sigaddset(&quit, SIGINT);
  sigaddset(&quit, SIGTERM);
  sigaddset(&quit, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &quit, &previous);
  replier_ = std::thread([this] {
    store::name_this_thread("mqbase-qreply");
    reply_loop();
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

QueryTopic::~QueryTopic() { stop(); }

void QueryTopic::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (replier_.joinable()) replier_.join();
}

bool QueryTopic::wants(std::string_view topic) const {
  return topic == kTopic || (next_ && next_->wants(topic));
}

std::vector<std::pair<std::string, std::string>> QueryTopic::sys_figures() const {
  auto figures = next_ ? next_->sys_figures() : std::vector<std::pair<std::string, std::string>>{};
  figures.emplace_back("query/mqtt requests", std::to_string(requests_.load()));
  figures.emplace_back("query/mqtt errors", std::to_string(errors_->load()));
  return figures;
}

broker::MessageSink::Outcome QueryTopic::take(const broker::Message& m, const Publisher& publisher) {
  if (m.topic != kTopic) return next_ ? next_->take(m, publisher) : Outcome{};
  ++requests_;
  const auto began = std::chrono::steady_clock::now();
  QueryRequest request;
  std::string error;
  bool parsed = query_request_from_json(m.payload, &request, &error);
  if (parsed && request.sql.empty()) {
    parsed = false;
    error = "no query: the request needs \"q\", e.g. {\"q\": \"SELECT 1\"}";
  }
  // Where the answer goes: the Response Topic (with the Correlation Data), else "reply".
  std::string topic;
  if (m.response_topic) topic = *m.response_topic;
  for (auto& [k, v] : m.user_properties)
    if (k == "reply" && topic.empty() && valid_reply_topic(v)) topic = v;
  if (topic.empty() && valid_reply_topic(request.reply)) topic = request.reply;
  if (topic.empty()) topic = kDefaultReply;

  auto reply = std::make_shared<broker::Message>();
  reply->topic = std::move(topic);
  reply->qos = std::min<uint8_t>(m.qos, 1);
  reply->correlation_data = m.correlation_data;
  reply->content_type = "application/json";

  Outcome out;
  if (!parsed) {
    ++*errors_;
    spdlog::info("db/query from client {}: {}", publisher.client_id, error);
    reply->payload = error_json(error, std::chrono::steady_clock::now() - began);
    queue_reply(std::move(reply));
    out.reason = mqtt::ReasonCode::payload_format_invalid;
    out.reason_string = error;
    return out;
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::string client(publisher.client_id);
  // The job holds what it uses: the pool may outlive this handler.
  auto job = [broker = &broker_, execute = execute_, limits = limits_, errors = errors_, request = std::move(request),
              reply, cancel, client]() mutable {
    MessageAnswer answer;
    query::QueryStatus st = run_query(execute, request, limits, answer, cancel.get());
    if (!st.ok) {
      ++*errors;
      spdlog::debug("db/query from client {}: {}", client, st.describe());
    }
    reply->payload = std::move(answer.body);
    reply->content_type = answer.content_type.empty() ? "application/json" : answer.content_type;
    if (cancel->load()) return;  // the server stops
    broker::Persistence::reset_tracker();
    broker->publish(reply);
  };
  if (!pool_.try_submit(std::move(job), cancel)) {
    ++*errors_;
    auto stats = pool_.stats();
    error = "too many queries: " + std::to_string(stats.running) + " running and " + std::to_string(stats.queued) +
            " waiting (http.query_threads, http.query_queue); try again later";
    reply->payload = error_json(error, std::chrono::steady_clock::now() - began);
    queue_reply(std::move(reply));
    out.reason = mqtt::ReasonCode::quota_exceeded;
    out.reason_string = error;
  }
  return out;
}

void QueryTopic::queue_reply(broker::MessagePtr reply) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    replies_.push_back(std::move(reply));
  }
  wake_.notify_one();
}

void QueryTopic::reply_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || !replies_.empty(); });
    if (stop_) return;
    broker::MessagePtr r = std::move(replies_.front());
    replies_.pop_front();
    lock.unlock();
    broker::Persistence::reset_tracker();
    broker_.publish(r);
    lock.lock();
  }
}

}  // namespace mqbase::http
