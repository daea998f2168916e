// WriteBatch: encode/decode round trips (empty, binary, long keys and values whose lengths
// take several varint bytes), the counters, and malformed reps refused before any callback.
#include "store/write_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace mqbase::store {
namespace {

using Entry = std::tuple<bool, std::string, std::string>;

std::vector<Entry> decode(std::string_view rep, bool* ok = nullptr) {
  std::vector<Entry> out;
  bool r = WriteBatch::for_each(rep, [&](bool is_put, std::string_view k, std::string_view v) {
    out.emplace_back(is_put, std::string(k), std::string(v));
  });
  if (ok) *ok = r;
  return out;
}

TEST(WriteBatchTest, EmptyBatch) {
  WriteBatch b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.count(), 0u);
  EXPECT_EQ(b.bytes(), 4u);
  EXPECT_TRUE(b.deletes_only());
  EXPECT_FALSE(b.has_deletes());
  bool ok = false;
  EXPECT_TRUE(decode(b.rep(), &ok).empty());
  EXPECT_TRUE(ok);
}

TEST(WriteBatchTest, RoundTrip) {
  std::string binary("a\0b\xff", 4);
  std::string long_key(300, 'k');
  std::string long_value(70000, 'v');  // a 3-byte varint
  WriteBatch b;
  b.put("k1", "v1");
  b.del("gone");
  b.put("", "");
  b.put(binary, binary);
  b.put(long_key, long_value);
  b.del("");
  EXPECT_EQ(b.count(), 6u);
  EXPECT_FALSE(b.empty());
  EXPECT_FALSE(b.deletes_only());
  EXPECT_TRUE(b.has_deletes());
  bool ok = false;
  auto entries = decode(b.rep(), &ok);
  ASSERT_TRUE(ok);
  std::vector<Entry> want = {{true, "k1", "v1"},      {false, "gone", ""},           {true, "", ""},
                             {true, binary, binary}, {true, long_key, long_value}, {false, "", ""}};
  EXPECT_EQ(entries, want);
}

TEST(WriteBatchTest, ClearAndDeletesOnly) {
  WriteBatch b;
  b.put("a", "1");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 4u);
  b.del("a");
  b.del("b");
  EXPECT_TRUE(b.deletes_only());
  EXPECT_TRUE(b.has_deletes());
  EXPECT_EQ(b.count(), 2u);
}

TEST(WriteBatchTest, EveryTruncationIsMalformed) {
  WriteBatch b;
  b.put("key", "value");
  b.del("other");
  b.put("k", std::string(200, 'x'));
  const std::string& rep = b.rep();
  for (size_t n = 0; n < rep.size(); ++n) {
    int calls = 0;
    bool ok = WriteBatch::for_each(std::string_view(rep).substr(0, n), [&](bool, std::string_view, std::string_view) { ++calls; });
    EXPECT_FALSE(ok) << "prefix of " << n << " bytes";
    EXPECT_EQ(calls, 0) << "nothing is applied from a malformed batch";
  }
}

TEST(WriteBatchTest, MalformedReps) {
  WriteBatch b;
  b.put("a", "1");
  std::string bad_op = b.rep();
  bad_op[4] = 3;
  EXPECT_FALSE(WriteBatch::for_each(bad_op, [](bool, std::string_view, std::string_view) {}));
  std::string trailing = b.rep() + "x";
  EXPECT_FALSE(WriteBatch::for_each(trailing, [](bool, std::string_view, std::string_view) {}));
  std::string count_too_big = b.rep();
  count_too_big[0] = 2;
  EXPECT_FALSE(WriteBatch::for_each(count_too_big, [](bool, std::string_view, std::string_view) {}));
  std::string huge_count = b.rep();
  huge_count[3] = 0x7f;
  EXPECT_FALSE(WriteBatch::for_each(huge_count, [](bool, std::string_view, std::string_view) {}));
  // A varint longer than 5 bytes.
  std::string long_varint("\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff\x01", 11);
  EXPECT_FALSE(WriteBatch::for_each(long_varint, [](bool, std::string_view, std::string_view) {}));
}

}  // namespace
}  // namespace mqbase::store
