#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/safetensors.h"

using namespace aero;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "." + std::to_string(getpid())))
      .string();
}

// A file from a raw header (the length prefix is computed) and `data_bytes` zero bytes.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes,
               int64_t declared_len = -1) {
  uint64_t n = declared_len >= 0 ? uint64_t(declared_len) : header.size();
  std::ofstream f(path, std::ios::binary);
  for (int i = 0; i < 8; i++) f.put(char(n >> (8 * i)));
  f << header << std::string(data_bytes, '\0');
}

// Opening `path` fails with an aero::Error that names the file and contains `what`.
void expect_open_error(const std::string& path, const std::string& what) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "expected an error containing: " << what;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("[safetensors] " + path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

}  // namespace

TEST(safetensors, round_trip_with_metadata) {
  std::string path = temp_path("aero_rt.safetensors");
  Tensor a = Tensor::empty({2, 3});
  for (int i = 0; i < 6; i++) a.f32()[i] = float(i) - 2.5f;
  Tensor ids = Tensor::empty({5}, DType::i32);
  for (int i = 0; i < 5; i++) ids.i32()[i] = 1000 * i - 7;
  uint16_t bf[2] = {0x3f80, 0xc040};          // 1.0, -3.0
  uint16_t hf[3] = {0x3c00, 0xc500, 0x0001};  // 1.0, -5.0, smallest subnormal
  int64_t big[2] = {-5, 123456789};
  int8_t small[3] = {-128, 0, 127};
  write_safetensors(
      path,
      {StTensorRef("a", a), StTensorRef("ids", ids), StTensorRef("bf", StDType::BF16, {2}, bf),
       StTensorRef("hf", StDType::F16, {3}, hf), StTensorRef("big", StDType::I64, {1, 2}, big),
       StTensorRef("small", StDType::I8, {3}, small),
       StTensorRef("empty", StDType::F32, {0, 4}, nullptr)},
      {{"format", "pt"}, {"note", "héllo"}});
  SafetensorsFile f(path);
  EXPECT_EQ(f.entries().size(), 7u);
  EXPECT_EQ(f.metadata().at("note"), "héllo");
  // The data section starts 8-byte aligned: the header is padded.
  std::ifstream raw(path, std::ios::binary);
  uint64_t n = 0;
  raw.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  Tensor av = f.view("a");
  EXPECT_EQ(av.shape(), Shape({2, 3}));
  EXPECT_EQ(std::memcmp(av.f32(), a.f32(), 24), 0);
  EXPECT_EQ(f.view("ids").i32()[4], 3993);
  Tensor bff = f.read_f32("bf");
  EXPECT_EQ(bff.f32()[0], 1.0f);
  EXPECT_EQ(bff.f32()[1], -3.0f);
  Tensor hff = f.read_f32("hf");
  EXPECT_EQ(hff.f32()[0], 1.0f);
  EXPECT_EQ(hff.f32()[1], -5.0f);
  EXPECT_EQ(hff.f32()[2], 5.9604644775390625e-8f);
  Tensor bi = Tensor::empty({1, 2}, DType::i32);
  f.read_into("big", bi);
  EXPECT_EQ(bi.i32()[1], 123456789);
  EXPECT_EQ(f.view("small").data<int8_t>()[0], -128);
  // Written largest element first, without gaps: every tensor is aligned for its dtype.
  uint64_t end = 0;
  for (const StEntry& e : f.entries()) {
    EXPECT_EQ(e.begin, end) << e.name;
    EXPECT_EQ(e.begin % st_dtype_size(e.dtype), 0u) << e.name;
    end = e.end;
  }
  EXPECT_EQ(f.at("empty").numel(), 0);
  // Wrong destination shape or dtype, and unknown names, are errors naming the tensor.
  EXPECT_THROW(f.read_into("a", Tensor::empty({3, 2})), Error);
  EXPECT_THROW(f.read_into("ids", Tensor::empty({5})), Error);
  EXPECT_THROW(f.view("nope"), Error);
  std::filesystem::remove(path);
}

TEST(safetensors, write_replaces_atomically) {
  std::string path = temp_path("aero_atomic.safetensors");
  Tensor a = Tensor::full({4}, 1.0f), b = Tensor::full({2}, 2.0f);
  write_safetensors(path, {StTensorRef("a", a)});
  write_safetensors(path, {StTensorRef("b", b)});
  SafetensorsFile f(path);
  EXPECT_FALSE(f.has("a"));
  EXPECT_EQ(f.view("b").f32()[1], 2.0f);
  // No temporary files left beside it.
  int others = 0;
  for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
    if (e.path().string().rfind(path + ".tmp", 0) == 0) others++;
  EXPECT_EQ(others, 0);
  // A failed write (duplicate name) leaves the old file intact.
  EXPECT_THROW(write_safetensors(path, {StTensorRef("x", a), StTensorRef("x", a)}), Error);
  EXPECT_TRUE(SafetensorsFile(path).has("b"));
  std::filesystem::remove(path);
}

TEST(safetensors, corrupt_files_name_the_file_and_the_field) {
  std::string path = temp_path("aero_bad.safetensors");
  const std::string ok = R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

  {  // Shorter than the length prefix.
    std::ofstream f(path, std::ios::binary);
    f << "abc";
  }
  expect_open_error(path, "too short");

  write_raw(path, ok, 16, 4096);
  expect_open_error(path, "header length 4096 goes beyond the end of the file");

  write_raw(path, ok, 8);  // truncated data
  expect_open_error(path, "tensor 'x': offsets [0, 16) out of range for 8 data bytes");

  write_raw(path, R"({"x":{"dtype":"F32",)", 16);
  expect_open_error(path, "header is not valid JSON");

  write_raw(path, R"({"x":{"dtype":"F99","shape":[2,2],"data_offsets":[0,16]}})", 16);
  expect_open_error(path, "tensor 'x': unsupported dtype 'F99'");

  write_raw(path, R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 16);
  expect_open_error(path, "tensor 'x': offsets [0, 12) but shape (2, 2) f32 needs 16 bytes");

  write_raw(path, R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[8,4]}})", 16);
  expect_open_error(path, "tensor 'x': offsets [8, 4) out of range");

  write_raw(path,
            R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            16);
  expect_open_error(path, "tensor 'y': offsets [4, 12) overlap tensor 'x' [0, 8)");

  write_raw(path, R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 16);
  expect_open_error(path, "tensor 'x': shape has a non-integer or negative entry");

  write_raw(path, R"({"x":{"shape":[2],"data_offsets":[0,8]}})", 16);
  expect_open_error(path, "tensor 'x': missing string field 'dtype'");

  write_raw(path, R"({"__metadata__":{"a":1}})", 0);
  expect_open_error(path, "__metadata__ value for 'a' is not a string");

  write_raw(path, "[1, 2]", 0);
  expect_open_error(path, "header is not a JSON object");

  expect_open_error(path + ".missing", "cannot open");
  std::filesystem::remove(path);
}
