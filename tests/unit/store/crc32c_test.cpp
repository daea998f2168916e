// crc32c: the standard check value and the iSCSI vectors (RFC 3720), continuation, the mask,
// and the SSE4.2 and table paths agreeing on random inputs of every alignment.
#include "store/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

namespace mqbase::store {
namespace {

TEST(Crc32cTest, CheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  unsigned char buf[32];
  for (auto fn : {crc32c, crc32c_portable}) {
    std::memset(buf, 0, sizeof buf);
    EXPECT_EQ(fn(buf, sizeof buf, 0), 0x8a9136aau);
    std::memset(buf, 0xff, sizeof buf);
    EXPECT_EQ(fn(buf, sizeof buf, 0), 0x62a8ab43u);
    for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(i);
    EXPECT_EQ(fn(buf, sizeof buf, 0), 0x46dd794eu);
    for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(31 - i);
    EXPECT_EQ(fn(buf, sizeof buf, 0), 0x113fdb5cu);
  }
}

TEST(Crc32cTest, ContinuesFromAPreviousCrc) {
  std::string a = "hello, ", b = "world";
  EXPECT_EQ(crc32c(b.data(), b.size(), crc32c(a.data(), a.size())), crc32c((a + b).data(), a.size() + b.size()));
}

TEST(Crc32cTest, MaskRoundTripsAndChangesTheValue) {
  uint32_t crc = crc32c("foo", 3);
  EXPECT_NE(crc32c_mask(crc), crc);
  EXPECT_NE(crc32c_mask(crc32c_mask(crc)), crc);
  EXPECT_EQ(crc32c_unmask(crc32c_mask(crc)), crc);
  EXPECT_EQ(crc32c_unmask(crc32c_unmask(crc32c_mask(crc32c_mask(crc)))), crc);
}

TEST(Crc32cTest, HardwareAndTableAgreeOnRandomInputs) {
  if (!crc32c_hardware()) GTEST_SKIP() << "no SSE4.2 on this CPU: crc32c() is the table path";
  std::mt19937_64 rng(42);
  std::string buf(16384 + 16, '\0');  // past three 1 KiB stripes (the hardware path's rounds), several times
  for (char& c : buf) c = static_cast<char>(rng());
  for (int i = 0; i < 2000; ++i) {
    size_t offset = rng() % 16;  // every alignment
    size_t n = i % 4 ? rng() % 16384 : 3072 * (1 + rng() % 5) + rng() % 3;  // some at the rounds' edges
    uint32_t seed = (i % 2) ? static_cast<uint32_t>(rng()) : 0;
    ASSERT_EQ(crc32c(buf.data() + offset, n, seed), crc32c_portable(buf.data() + offset, n, seed))
        << "offset " << offset << " length " << n;
  }
}

}  // namespace
}  // namespace mqbase::store
