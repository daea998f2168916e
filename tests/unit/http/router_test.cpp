// Router: the endpoints without sockets. A fake engine echoes what it was asked; no Ingest
// (the write endpoints then answer 503); the authorizer seam.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "http/router.h"

namespace mqbase::http {
namespace {

using ::testing::HasSubstr;

// Waits for the answer a pool thread gives.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  std::shared_ptr<Answer> answer = std::make_shared<Answer>([this] {
    std::lock_guard lock(mu);
    woken = true;
    cv.notify_all();
  });
  // The whole answer (or the concatenated stream) once complete.
  std::pair<Answer::Head, std::string> get() {
    Answer::Head head, h;
    std::string body, bytes;
    while (true) {
      {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return woken; })) {
          ADD_FAILURE() << "no answer within 10 s";
          return {};
        }
        woken = false;
      }
      switch (answer->next(&h, &bytes)) {
        case Answer::Step::whole: return {h, bytes};
        case Answer::Step::stream: head = h; break;
        case Answer::Step::bytes: body += bytes; break;
        case Answer::Step::end: return {head, body};
        case Answer::Step::abort: return {head, body + "<abort>"};
        case Answer::Step::wait: continue;
      }
      // More may be there already: take it before waiting again.
      std::lock_guard lock(mu);
      woken = true;
    }
  }
};

struct RouterTest : ::testing::Test {
  QueryPool queries{"t-query", 1, 0};
  QueryPool writes{"t-write", 1, 0};
  std::string last_sql;
  std::vector<query::Value> last_params;
  std::mutex mu;
  std::condition_variable release;
  bool hold = false;
  Router router{[this](std::string_view sql, const query::QueryOptions& o, query::ResultSink& sink) {
                  {
                    std::unique_lock lock(mu);
                    last_sql = sql;
                    last_params = o.params;
                    release.wait(lock, [&] { return !hold; });
                  }
                  query::QueryStatus st;
                  st.tag = "SELECT";
                  return st;
                },
                nullptr, queries, writes, QueryLimits{}};

  Request req(std::string method, std::string target, std::string body = "") {
    Request r;
    r.method = std::move(method);
    r.target = target;
    Target t;
    EXPECT_TRUE(split_target(target, &t));
    r.path = t.path;
    std::string error;
    EXPECT_TRUE(r.query.parse(t.query, &error));
    r.body = std::move(body);
    return r;
  }
};

TEST_F(RouterTest, HealthNotFoundMethodsAndMqtt) {
  Waiter w;
  Request r = req("GET", "/health");
  auto res = router.handle(r, w.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"status\":\"ok\"}");
  r = req("GET", "/nope");
  res = router.handle(r, w.answer);
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(res->body, HasSubstr("no such endpoint: /nope"));
  r = req("PUT", "/db/query");
  res = router.handle(r, w.answer);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->headers, (std::vector<std::pair<std::string, std::string>>{{"Allow", "GET, POST"}}));
  r = req("GET", "/mqtt");
  EXPECT_EQ(router.handle(r, w.answer)->status, 426);  // a plain GET: the upgrade is the way in
  r = req("POST", "/db/write/");
  EXPECT_EQ(router.handle(r, w.answer)->status, 404);
  r = req("POST", "/db/write/t");
  res = router.handle(r, w.answer);
  EXPECT_EQ(res->status, 503) << "no ingest here";
  r = req("POST", "/api/v2/write?bucket=t");
  EXPECT_EQ(router.handle(r, w.answer)->status, 503);
}

TEST_F(RouterTest, QueryFromGetFormJsonAndText) {
  struct Case {
    std::string target, body, type, sql;
  };
  for (const Case& c : std::vector<Case>{
           {"/db/query?q=SELECT+1", "", "", "SELECT 1"},
           {"/db/query", "q=SELECT+2&format=csv", "application/x-www-form-urlencoded", "SELECT 2"},
           {"/db/query", R"({"q":"SELECT $1","params":[5]})", "application/json; charset=utf-8", "SELECT $1"},
           {"/db/query", R"({"q":"SELECT 4"})", "", "SELECT 4"},
           {"/db/query?format=csv", "SELECT 5", "text/plain", "SELECT 5"},
       }) {
    Waiter w;
    Request r = req(c.body.empty() ? "GET" : "POST", c.target, c.body);
    if (!c.type.empty()) r.headers.emplace_back("content-type", c.type);
    // The thread of the case before may not have counted its job done yet (no queue here).
    for (int i = 0; i < 5000 && queries.stats().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto res = router.handle(r, w.answer);
    ASSERT_FALSE(res) << c.target << " " << c.body << ": " << res->status << " " << res->body;
    auto [head, body] = w.get();
    EXPECT_EQ(head.status, 200) << body;
    std::lock_guard lock(mu);
    EXPECT_EQ(last_sql, c.sql);
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(last_params, std::vector<query::Value>{}) << "the last case has none";
}

TEST_F(RouterTest, QueryErrorsAnsweredAtOnce) {
  Waiter w;
  Request r = req("GET", "/db/query");
  auto res = router.handle(r, w.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("no query"));
  r = req("GET", "/db/query?q=SELECT+1&precision=x");
  EXPECT_EQ(router.handle(r, w.answer)->status, 400);
  r = req("POST", "/db/query", "<q>SELECT 1</q>");
  r.headers.emplace_back("Content-Type", "application/xml");
  EXPECT_EQ(router.handle(r, w.answer)->status, 415);
  r = req("POST", "/db/query", "{not json");
  r.headers.emplace_back("Content-Type", "application/json");
  res = router.handle(r, w.answer);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("not JSON"));
}

TEST_F(RouterTest, AFullPoolIs503WithRetryAfter) {
  {
    std::lock_guard lock(mu);
    hold = true;
  }
  Waiter first;
  Request r = req("GET", "/db/query?q=SELECT+1");
  EXPECT_FALSE(router.handle(r, first.answer));
  // The one thread takes it; no queue: the next one is refused.
  for (int i = 0; i < 1000 && queries.stats().running == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  Waiter second;
  r = req("GET", "/db/query?q=SELECT+2");
  auto res = router.handle(r, second.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, HasSubstr("too many queries: 1 running and 0 waiting"));
  EXPECT_EQ(res->headers, (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}}));
  {
    std::lock_guard lock(mu);
    hold = false;
  }
  release.notify_all();
  EXPECT_EQ(first.get().first.status, 200);
}

TEST_F(RouterTest, TheAuthorizerSeesEveryRequestButHealth) {
  std::vector<std::string> seen;
  router.set_authorizer([&](const Request& r) {
    seen.push_back(r.path);
    AuthDecision d;
    d.allowed = r.header("Authorization") != nullptr;
    d.reason = "credentials required";
    d.www_authenticate = "Basic realm=\"mqbase\"";
    return d;
  });
  Waiter w;
  Request r = req("GET", "/health");
  EXPECT_EQ(router.handle(r, w.answer)->status, 200);
  r = req("GET", "/db/query?q=SELECT+1");
  auto res = router.handle(r, w.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_THAT(res->body, HasSubstr("credentials required"));
  EXPECT_EQ(res->headers[0].first, "WWW-Authenticate");
  r.headers.emplace_back("authorization", "Basic eDp5");
  for (int i = 0; i < 5000 && queries.stats().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(router.handle(r, w.answer));
  EXPECT_EQ(w.get().first.status, 200);
  EXPECT_EQ(seen, (std::vector<std::string>{"/db/query", "/db/query"}));
}

}  // namespace
}  // namespace mqbase::http
