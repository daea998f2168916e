// CRC-32C (src/store/crc32c.h), the checksum of every WAL record and of every table block a
// query reads: bytes per second at record and block sizes, the hardware path (three 1 KiB
// stripes at once from 3 KiB up) beside the table path.
#include <benchmark/benchmark.h>

#include <string>

#include "store/crc32c.h"

namespace {

template <uint32_t (*Crc)(const void*, size_t, uint32_t)>
void crc(benchmark::State& state) {
  std::string buf(static_cast<size_t>(state.range(0)), '\0');
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 131);
  uint32_t c = 0;
  for (auto _ : state) {
    c = Crc(buf.data(), buf.size(), c);
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(crc<mqbase::store::crc32c>)->Name("BM_Crc32c")->Arg(64)->Arg(1024)->Arg(10240)->Arg(65536);
BENCHMARK(crc<mqbase::store::crc32c_portable>)->Name("BM_Crc32cTable")->Arg(64)->Arg(10240);

}  // namespace
