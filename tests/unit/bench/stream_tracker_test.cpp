#include "bench/stream_tracker.h"

#include <gtest/gtest.h>

namespace mqbase::bench {
namespace {

using Arrival = StreamTracker::Arrival;

TEST(StreamTracker, InOrderStreamHasNoLossDuplicatesOrReordering) {
  StreamTracker t;
  for (uint64_t s = 0; s < 10000; ++s) EXPECT_EQ(t.on_message(s), Arrival::in_order);
  EXPECT_EQ(t.unique(), 10000u);
  EXPECT_EQ(t.duplicates(), 0u);
  EXPECT_EQ(t.reordered(), 0u);
  EXPECT_EQ(t.next(), 10000u);
  EXPECT_EQ(t.span(), 10000u);
}

TEST(StreamTracker, GapIsLossUntilTheMissingMessagesArrive) {
  StreamTracker t;
  t.on_message(0);
  t.on_message(1);
  EXPECT_EQ(t.on_message(5), Arrival::ahead);  // 2, 3, 4 missing
  EXPECT_EQ(t.unique(), 3u);
  EXPECT_EQ(t.next(), 6u);
  // Expected 6 so far, 3 arrived once: 3 lost.
  EXPECT_EQ(t.span() - t.unique(), 3u);
  EXPECT_EQ(t.on_message(3), Arrival::late);
  EXPECT_EQ(t.reordered(), 1u);
  EXPECT_EQ(t.span() - t.unique(), 2u);
}

TEST(StreamTracker, MissingFirstMessagesCountWhenTheStreamStartsAtZero) {
  StreamTracker t(true);
  EXPECT_EQ(t.on_message(3), Arrival::ahead);
  EXPECT_EQ(t.span(), 4u);
  EXPECT_EQ(t.unique(), 1u);
}

TEST(StreamTracker, JoiningMidStreamStartsAtTheFirstArrival) {
  StreamTracker t(false);
  EXPECT_EQ(t.on_message(1000), Arrival::in_order);
  EXPECT_EQ(t.on_message(1001), Arrival::in_order);
  EXPECT_EQ(t.first(), 1000u);
  EXPECT_EQ(t.span(), 2u);
  EXPECT_EQ(t.unique(), 2u);
}

TEST(StreamTracker, DuplicatesAreDetectedInOrderAndAfterAGap) {
  StreamTracker t;
  t.on_message(0);
  EXPECT_EQ(t.on_message(0), Arrival::duplicate);
  t.on_message(1);
  t.on_message(4);
  EXPECT_EQ(t.on_message(1), Arrival::duplicate);
  EXPECT_EQ(t.on_message(4), Arrival::duplicate);
  EXPECT_EQ(t.on_message(2), Arrival::late);
  EXPECT_EQ(t.on_message(2), Arrival::duplicate);  // a late one seen twice is a duplicate too
  EXPECT_EQ(t.duplicates(), 4u);
  EXPECT_EQ(t.reordered(), 1u);
  EXPECT_EQ(t.unique(), 4u);  // 0, 1, 4, 2
}

TEST(StreamTracker, SwappedPairIsOneReorderingAndNoLoss) {
  StreamTracker t;
  for (uint64_t s : {0, 1, 3, 2, 4, 5}) t.on_message(s);
  EXPECT_EQ(t.unique(), 6u);
  EXPECT_EQ(t.reordered(), 1u);
  EXPECT_EQ(t.duplicates(), 0u);
  EXPECT_EQ(t.span(), 6u);
}

TEST(StreamTracker, RingForgetsSkippedSlotsSoOldBitsDoNotFakeDuplicates) {
  // 0 .. kWindow-1 arrive, then kWindow + 10 (skipping kWindow .. kWindow+9, whose ring slots
  // held 0 .. 9). A late kWindow + 3 must be a reordering, not a duplicate of 3.
  StreamTracker t;
  const uint64_t w = StreamTracker::kWindow;
  for (uint64_t s = 0; s < w; ++s) t.on_message(s);
  EXPECT_EQ(t.on_message(w + 10), Arrival::ahead);
  EXPECT_EQ(t.on_message(w + 3), Arrival::late);
  EXPECT_EQ(t.duplicates(), 0u);
}

TEST(StreamTracker, FarJumpClearsTheWholeRing) {
  StreamTracker t;
  const uint64_t w = StreamTracker::kWindow;
  for (uint64_t s = 0; s < 100; ++s) t.on_message(s);
  EXPECT_EQ(t.on_message(100 + 3 * w), Arrival::ahead);
  EXPECT_EQ(t.on_message(100 + 3 * w - 5), Arrival::late);
  EXPECT_EQ(t.unique(), 102u);
  EXPECT_EQ(t.span() - t.unique(), 100 + 3 * w + 1 - 102);
}

TEST(StreamTracker, ArrivalOlderThanTheWindowCountsAsDuplicate) {
  StreamTracker t;
  const uint64_t w = StreamTracker::kWindow;
  t.on_message(0);
  t.on_message(2 * w);
  EXPECT_EQ(t.on_message(1), Arrival::duplicate);  // cannot be told apart: loss is not under-reported
}

}  // namespace
}  // namespace mqbase::bench
