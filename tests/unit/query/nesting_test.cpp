// Queries that nest deeply: up to the limit they run, past it they fail with PostgreSQL's
// "stack depth limit exceeded" and its position, and never overflow the stack. Before the
// check, `SELECT 1+1+...` with 100,000 terms ended the process inside libpg_query (SIGSEGV
// in its JSON output), and 1,000 terms failed with "internal error: unreadable parse tree".
#include "query/nesting.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <string>

#include "query/engine.h"
#include "query/expr.h"

namespace mqbase::query {
namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int k = 0; k < n; ++k) out += s;
  return out;
}

// "SELECT 1+1+...+1" with n terms.
std::string sum_of_ones(int n) { return "SELECT 1" + repeat("+1", n - 1); }

class FirstCell : public ResultSink {
 public:
  void begin(const std::vector<ColumnInfo>&) override {}
  bool rows(const Chunk& c) override {
    if (c.rows && cell.empty()) {
      Value v = c.columns[0].get(0);
      cell = v.null ? "NULL" : uses_ints(v.type) ? std::to_string(v.i) : v.s;
    }
    return true;
  }
  std::string cell;
};

class NestingTest : public ::testing::Test {
 protected:
  // On a thread of `stack_mib` MiB of stack: 1,000 levels fit in the 8 MiB of a release build's
  // threads, but a sanitizer's frames are several times larger.
  QueryStatus run(const std::string& sql, std::string* cell = nullptr, size_t stack_mib = 8) {
    struct Job {
      Engine* engine;
      const std::string* sql;
      QueryStatus st;
      FirstCell out;
    } job{&engine_, &sql, {}, {}};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_mib << 20);
    pthread_t thread;
    auto body = [](void* p) -> void* {
      auto* j = static_cast<Job*>(p);
      j->st = j->engine->execute(*j->sql, QueryOptions{}, j->out);
      return nullptr;
    };
    EXPECT_EQ(pthread_create(&thread, &attr, body, &job), 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    if (cell) *cell = job.out.cell;
    return job.st;
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  static constexpr size_t kDeepStackMib = 64;
#else
  static constexpr size_t kDeepStackMib = 8;
#endif
  Engine engine_{nullptr, nullptr};
};

TEST(NestingEstimate, CountsOperatorsParenthesesAndCaseButNotLists) {
  EXPECT_EQ(nesting_past("SELECT 1+1"), -1);
  // Past the limit at the operator that passes it.
  std::string q = sum_of_ones(1500);
  int at = nesting_past(q);
  ASSERT_GT(at, 0);
  EXPECT_EQ(q[static_cast<size_t>(at)], '+');
  EXPECT_NEAR(at, static_cast<int>(std::string("SELECT 1").size()) + 2 * 999, 8);
  EXPECT_GE(nesting_past("SELECT " + repeat("(", 2000) + "1" + repeat(")", 2000)), 0);
  EXPECT_GE(nesting_past("SELECT " + repeat("CASE WHEN true THEN ", 1500) + "1" + repeat(" END", 1500)), 0);
  EXPECT_GE(nesting_past("SELECT 1" + repeat(" UNION SELECT 1", 1500)), 0);
  EXPECT_GE(nesting_past("SELECT " + repeat("NOT ", 1500) + "true"), 0);
  EXPECT_GE(nesting_past("SELECT 1" + repeat("::int", 1500)), 0);
  // Lists PostgreSQL keeps flat, and text that only looks deep.
  EXPECT_EQ(nesting_past("SELECT 1 WHERE 1 IN (1" + repeat(", 1", 100000) + ")"), -1);
  EXPECT_EQ(nesting_past("SELECT 1 WHERE a = 1" + repeat(" OR a = 1", 5000)), -1);
  EXPECT_EQ(nesting_past("SELECT 1 WHERE a + 1 = 2" + repeat(" AND a + 1 = 2", 5000)), -1);
  EXPECT_EQ(nesting_past("SELECT 1" + repeat(", 1+1", 5000)), -1);
  EXPECT_EQ(nesting_past("SELECT '" + repeat("+(", 50000) + "'"), -1);
  EXPECT_EQ(nesting_past("SELECT $$" + repeat("+(", 50000) + "$$"), -1);
  EXPECT_EQ(nesting_past("SELECT 1 -- " + repeat("+(", 50000)), -1);
  EXPECT_EQ(nesting_past("SELECT 1 /* " + repeat("+(", 50000) + " */"), -1);
  EXPECT_EQ(nesting_past("SELECT CASE WHEN x THEN 1 ELSE 2 END" + repeat(", CASE WHEN x THEN 1 ELSE 2 END", 2000)), -1);
}

TEST_F(NestingTest, DeepQueriesUpToTheLimitRun) {
  std::string cell;
  QueryStatus st = run(sum_of_ones(999), &cell, kDeepStackMib);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(cell, "999");
  st = run("SELECT " + repeat("abs(", 990) + "-1" + repeat(")", 990), &cell, kDeepStackMib);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(cell, "1");
  st = run("SELECT " + repeat("(", 990) + "7" + repeat(")", 990), &cell, kDeepStackMib);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(cell, "7");
  st = run("SELECT " + repeat("CASE WHEN true THEN ", 900) + "5" + repeat(" END", 900), &cell, kDeepStackMib);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(cell, "5");
  // Subqueries in FROM, each one level: a SELECT bound inside a SELECT, 990 deep.
  st = run(repeat("SELECT x FROM (", 990) + "SELECT 3 AS x" + repeat(") AS t", 990), &cell, kDeepStackMib);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(cell, "3");
}

TEST_F(NestingTest, DeeperQueriesFailLikePostgresAndTheProcessLives) {
  for (int n : {1001, 5000, 100000}) {
    QueryStatus st = run(sum_of_ones(n));
    EXPECT_FALSE(st.ok);
    EXPECT_THAT(st.error, ::testing::HasSubstr("stack depth limit exceeded"));
    EXPECT_GT(st.position, 1000);  // 1-based, in characters: where the limit was passed
  }
  for (const std::string& q :
       {"SELECT " + repeat("(", 100000) + "1" + repeat(")", 100000),
        "SELECT " + repeat("abs(", 100000) + "1" + repeat(")", 100000),
        "SELECT 1" + repeat(" UNION SELECT 1", 100000),
        repeat("SELECT x FROM (", 20000) + "SELECT 3 AS x" + repeat(") AS t", 20000)}) {
    QueryStatus st = run(q);
    EXPECT_FALSE(st.ok) << q.substr(0, 40);
    EXPECT_THAT(st.error, ::testing::HasSubstr("stack depth limit exceeded")) << q.substr(0, 40);
  }
  std::string cell;
  ASSERT_TRUE(run("SELECT 2+2", &cell).ok);
  EXPECT_EQ(cell, "4");
}

// Parsing is charged to the query's memory limit before it happens: up to 256 bytes a token
// (the parser's nodes, their JSON, its DOM) and 64 a byte of text. Before, an IN list of 5 M
// integers (10 MB of text) grew the server by 1.35 GB under a memory limit of 256 MiB.
TEST_F(NestingTest, ParsingIsChargedToTheMemoryLimit) {
  QueryOptions o;
  o.memory_limit = 1 << 20;  // 4,096 tokens, 16 KiB of text
  auto in_list = [](int n) { return "SELECT count(*) WHERE 1 IN (1" + repeat(",1", n - 1) + ")"; };
  FirstCell out;
  QueryStatus st = engine_.execute(in_list(1500), o, out);  // about 3,000 tokens
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(out.cell, "1");
  st = engine_.execute(in_list(3000), o, out);  // about 6,000 tokens, 6 KB of text
  EXPECT_FALSE(st.ok);
  EXPECT_THAT(st.error, ::testing::HasSubstr("query needs more than its memory limit of 1 MiB to be parsed"));
  EXPECT_THAT(st.error, ::testing::HasSubstr("tokens"));
  st = engine_.execute("SELECT '" + std::string(20000, 'x') + "'", o, out);  // 20 KB of text, few tokens
  EXPECT_FALSE(st.ok);
  EXPECT_THAT(st.error, ::testing::HasSubstr("bytes of text"));
  o.memory_limit = 0;  // none
  st = engine_.execute(in_list(3000), o, out);
  EXPECT_TRUE(st.ok) << st.error;
  o.memory_limit = 4096;  // a query of at most 1,000 characters is not counted
  st = engine_.execute(in_list(400), o, out);
  EXPECT_TRUE(st.ok) << st.error;
}

// The stack check itself (PostgreSQL's check_stack_depth()): a recursion that calls it at each
// level, on a thread of 256 KiB, ends in QueryError "stack depth limit exceeded" instead of
// overflowing the stack; the binder and eval call it at each level of a query.
int recurse(int depth) {
  check_stack();
  volatile char frame[2048];  // a frame of a real binder's size
  frame[0] = static_cast<char>(depth);
  if (depth > 1'000'000) return 0;  // 2 GB of frames: the check has stopped it long before
  return recurse(depth + 1) + frame[0];
}

TEST(StackCheck, ARecursionThatCallsItFailsInsteadOfOverflowingTheStack) {
  struct Job {
    std::string error;
  } job;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 << 10);
  pthread_t thread;
  auto body = [](void* p) -> void* {
    try {
      recurse(0);
    } catch (const QueryError& e) {
      static_cast<Job*>(p)->error = e.what();
    }
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, body, &job), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_THAT(job.error, ::testing::HasSubstr("stack depth limit exceeded"));
}

}  // namespace
}  // namespace mqbase::query
