#include "broker/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <string>

namespace mqbase::broker {
namespace {

std::deque<std::string> contents(const Ring<std::string>& r) { return {r.begin(), r.end()}; }

TEST(RingTest, EmptyAllocatesNothingAndGrowsByPowersOfTwo) {
  Ring<std::string> r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.begin(), r.end());
  for (int i = 0; i < 100; ++i) r.push_back(std::to_string(i));
  ASSERT_EQ(r.size(), 100u);
  EXPECT_EQ(r.front(), "0");
  EXPECT_EQ(r.back(), "99");
  EXPECT_EQ(r[42], "42");
}

TEST(RingTest, FrontAndBackWrapAroundTheBuffer) {
  Ring<std::string> r;
  std::deque<std::string> model;
  // Capacity 8 after the first pushes; pops at the front and pushes at the back make the
  // live range wrap past the end of the buffer many times.
  for (int i = 0; i < 6; ++i) { r.push_back(std::to_string(i)); model.push_back(std::to_string(i)); }
  for (int i = 6; i < 1000; ++i) {
    r.pop_front();
    model.pop_front();
    r.push_back(std::to_string(i));
    model.push_back(std::to_string(i));
    ASSERT_EQ(contents(r), model) << "step " << i;
  }
}

TEST(RingTest, EraseAnywhereKeepsOrderAndReturnsTheNextElement) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    Ring<std::string> r;
    std::deque<std::string> model;
    int n = 1 + static_cast<int>(rng() % 40);
    int skip = static_cast<int>(rng() % 10);  // some pops first, so the live range starts mid-buffer
    for (int i = 0; i < n + skip; ++i) { r.push_back(std::to_string(i)); model.push_back(std::to_string(i)); }
    for (int i = 0; i < skip; ++i) { r.pop_front(); model.pop_front(); }
    while (!model.empty()) {
      size_t at = rng() % model.size();
      auto next = r.erase(r.begin() + static_cast<std::ptrdiff_t>(at));
      auto mnext = model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
      ASSERT_EQ(contents(r), model);
      if (mnext == model.end()) {
        EXPECT_EQ(next, r.end());
      } else {
        EXPECT_EQ(*next, *mnext);
      }
    }
    EXPECT_TRUE(r.empty());
  }
}

TEST(RingTest, EraseWhileIteratingAsTheSessionDoes) {
  Ring<std::string> r;
  for (int i = 0; i < 20; ++i) r.push_back(std::to_string(i));
  for (auto it = r.begin(); it != r.end();) {
    if (std::stoi(*it) % 3 == 0) it = r.erase(it);
    else ++it;
  }
  std::deque<std::string> want;
  for (int i = 0; i < 20; ++i) if (i % 3 != 0) want.push_back(std::to_string(i));
  EXPECT_EQ(contents(r), want);
  auto found = std::find(r.begin(), r.end(), "10");
  ASSERT_NE(found, r.end());
  EXPECT_EQ(found - r.begin(), 6);
}

TEST(RingTest, DestroysWhatItHoldsOnceAndMoves) {
  auto token = std::make_shared<int>(1);
  {
    Ring<std::shared_ptr<int>> r;
    for (int i = 0; i < 10; ++i) r.push_back(token);
    r.erase(r.begin() + 3);
    r.pop_front();
    r.pop_back();
    EXPECT_EQ(token.use_count(), 1 + 7);
    Ring<std::shared_ptr<int>> moved(std::move(r));
    EXPECT_TRUE(r.empty());  // NOLINT: moved-from is empty by contract
    EXPECT_EQ(moved.size(), 7u);
    EXPECT_EQ(token.use_count(), 1 + 7);
    moved.clear();
    EXPECT_EQ(token.use_count(), 1);
    moved.push_back(token);
  }
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace mqbase::broker
