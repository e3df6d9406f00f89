#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/error.h"
#include "data/batching.h"
#include "data/examples.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;
using namespace aero::test;

TEST(data_batching, windows_are_shifted_by_one_and_cover_every_shard) {
  ScratchDir d("batch_win");
  for (int s = 0; s < 2; ++s) {
    ShardWriter w(d.file("s" + std::to_string(s) + ".bin"), 5000, 0);
    std::vector<int32_t> t(s == 0 ? 100 : 1000);
    std::iota(t.begin(), t.end(), s * 2000);  // token value tells shard and position
    w.append(t);
    w.commit();
  }
  WindowSampler ws({d.file("s0.bin"), d.file("s1.bin")}, 16, 7);
  EXPECT_EQ(ws.tokens(), 1100u);
  std::vector<int32_t> x, y;
  int from_first = 0;
  for (int it = 0; it < 200; ++it) {
    ws.sample(4, x, y);
    ASSERT_EQ(x.size(), 64u);
    for (int b = 0; b < 4; ++b)
      for (int t = 0; t < 16; ++t) {
        EXPECT_EQ(y[b * 16 + t], x[b * 16 + t] + 1);
        if (t > 0) {
          EXPECT_EQ(x[b * 16 + t], x[b * 16 + t - 1] + 1);
        }
      }
    for (int b = 0; b < 4; ++b) from_first += x[b * 16] < 2000;
  }
  // 84 of 1068 window starts lie in the first shard: about 8%.
  EXPECT_GT(from_first, 30);
  EXPECT_LT(from_first, 110);
  EXPECT_THROW(WindowSampler({d.file("s0.bin")}, 100, 1), Error);
}

TEST(data_batching, padded_length_buckets_and_multiples) {
  PaddingOptions buckets;
  buckets.buckets = {64, 128, 256};
  EXPECT_EQ(padded_length(1, buckets), 64);
  EXPECT_EQ(padded_length(64, buckets), 64);
  EXPECT_EQ(padded_length(70, buckets), 128);
  EXPECT_EQ(padded_length(300, buckets), 300);
  PaddingOptions mult;
  mult.multiple = 8;
  EXPECT_EQ(padded_length(70, mult), 72);
  EXPECT_EQ(padded_length(72, mult), 72);
  EXPECT_EQ(padded_length(70, {}), 70);
}

TEST(data_batching, seq2seq_padding_masks_and_ignore_index) {
  const Example a{{5, 6, 7}, {8, 9}}, b{{5}, {8, 9, 10, 11, 12}};
  PaddingOptions in, out;
  in.multiple = out.multiple = 4;
  in.pad_id = 0;
  const auto batch = collate_seq2seq({&a, &b}, in, out);
  EXPECT_EQ(batch.T_in, 4);
  EXPECT_EQ(batch.T_out, 8);
  EXPECT_EQ(batch.input_ids, (std::vector<int32_t>{5, 6, 7, 0, 5, 0, 0, 0}));
  EXPECT_EQ(batch.attention_mask, (std::vector<int32_t>{1, 1, 1, 0, 1, 0, 0, 0}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{8, 9, -100, -100, -100, -100, -100, -100, 8, 9, 10,
                                                11, 12, -100, -100, -100}));
  out.max_length = 3;  // truncation before padding
  out.multiple = 0;
  EXPECT_EQ(collate_seq2seq({&b}, in, out).labels, (std::vector<int32_t>{8, 9, 10}));
}

TEST(data_batching, prompt_answer_labels_only_on_the_answer) {
  const Example a{{1, 2}, {3}}, b{{1}, {4, 5, 6}};
  PaddingOptions opt;
  opt.buckets = {8};
  opt.pad_id = 0;
  const auto batch = collate_prompt_answer({&a, &b}, opt);
  EXPECT_EQ(batch.T, 8);
  EXPECT_EQ(batch.input_ids,
            (std::vector<int32_t>{1, 2, 3, 0, 0, 0, 0, 0, 1, 4, 5, 6, 0, 0, 0, 0}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{-100, -100, 3, -100, -100, -100, -100, -100, -100,
                                                4, 5, 6, -100, -100, -100, -100}));
  EXPECT_EQ(std::accumulate(batch.attention_mask.begin(), batch.attention_mask.end(), 0), 7);
}

TEST(data_batching, length_grouping_reduces_padding_and_keeps_every_index) {
  std::vector<size_t> lengths;
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) lengths.push_back(1 + rng() % 200);
  const auto grouped = length_grouped_batches(lengths, 16, 11);
  const auto random = length_grouped_batches(lengths, 16, 11, 1);
  const auto padding = [&](const std::vector<std::vector<size_t>>& batches) {
    size_t pad = 0;
    for (const auto& b : batches) {
      size_t longest = 0;
      for (size_t i : b) longest = std::max(longest, lengths[i]);
      for (size_t i : b) pad += longest - lengths[i];
    }
    return pad;
  };
  EXPECT_LT(padding(grouped) * 5, padding(random));
  std::set<size_t> seen;
  for (const auto& b : grouped) {
    EXPECT_LE(b.size(), 16u);
    seen.insert(b.begin(), b.end());
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(grouped, length_grouped_batches(lengths, 16, 11));
}

TEST(data_batching, examples_from_csv_with_dropped_rows) {
  ScratchDir d("batch_csv");
  const std::string csv = d.write("p.csv", "input_text,target_text\nab,ba\n,b\n\"a\nb\",a\n");
  auto tok = CharTokenizer::from_chars({U'a', U'b', U'\n'});
  const auto set = read_examples(csv, tok);
  ASSERT_EQ(set.examples.size(), 2u);
  EXPECT_EQ(set.stats.missing_field, 1u);
  EXPECT_EQ(set.examples[1].input.size(), 4u);  // a \n b <eos>
  EXPECT_EQ(set.examples[0].target.back(), CharTokenizer::kEos);
}

TEST(data_batching, loader_epochs_are_reproducible_and_complete) {
  std::vector<Example> ex;
  for (int i = 0; i < 100; ++i)
    ex.push_back({std::vector<int32_t>(1 + i % 37, 5), std::vector<int32_t>(1 + i % 11, 6)});
  ExampleLoader loader(ex, 16, 42);
  const auto e0 = loader.epoch(0), e1 = loader.epoch(1);
  EXPECT_EQ(e0, loader.epoch(0));  // a resumed run sees the same order
  EXPECT_NE(e0, e1);
  std::set<size_t> seen;
  for (const auto& b : e1) seen.insert(b.begin(), b.end());
  EXPECT_EQ(seen.size(), 100u);
  PaddingOptions in, out;
  in.multiple = out.multiple = 8;
  in.max_length = 32;
  const auto batch = loader.seq2seq(e0.front(), in, out);
  EXPECT_EQ(batch.T_in % 8, 0);
  EXPECT_LE(batch.T_in, 32);
  EXPECT_EQ(batch.T_out % 8, 0);
  EXPECT_THROW(loader.seq2seq({100}, in, out), Error);
}

TEST(data_batching, next_token_batches_shift_pad_and_ignore) {
  const Example a{{}, {1, 2, 3, 9}}, b{{}, {4, 5, 6, 7, 8, 9}}, p{{1, 2}, {3, 9}};
  PaddingOptions opt;
  opt.buckets = {4, 8};
  opt.pad_id = 9;
  const int I = kIgnoreIndex;
  // Longest row: 6 tokens -> 5 positions -> bucket 8.
  NextTokenBatch nb = collate_next_token({&a, &b}, opt);
  ASSERT_EQ(nb.B, 2);
  ASSERT_EQ(nb.T, 8);
  EXPECT_EQ(nb.x, (std::vector<int32_t>{1, 2, 3, 9, 9, 9, 9, 9, 4, 5, 6, 7, 8, 9, 9, 9}));
  EXPECT_EQ(nb.y, (std::vector<int32_t>{2, 3, 9, I, I, I, I, I, 5, 6, 7, 8, 9, I, I, I}));
  EXPECT_EQ(nb.targets, 3 + 5);
  EXPECT_EQ(nb.tokens, 3 + 5);
  // Final only: each row's last real target, not the padding at the end of the row.
  nb = collate_next_token({&a, &b}, opt, true);
  EXPECT_EQ(nb.y, (std::vector<int32_t>{I, I, 9, I, I, I, I, I, I, I, I, I, 9, I, I, I}));
  EXPECT_EQ(nb.targets, 2);
  // A prompt is never a target: only "3 9" (the answer) counts.
  nb = collate_next_token({&p}, opt);
  EXPECT_EQ(nb.T, 4);
  EXPECT_EQ(nb.y, (std::vector<int32_t>{I, 3, 9, I}));
  // max_length cuts the row to block_size + 1 tokens and caps the padding at block_size.
  opt.max_length = 4;
  nb = collate_next_token({&b}, opt);
  EXPECT_EQ(nb.T, 3);
  EXPECT_EQ(nb.x, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(nb.y, (std::vector<int32_t>{5, 6, 7}));
  opt.max_length = 1;
  EXPECT_THROW(collate_next_token({&b}, opt), Error);
}

TEST(data_batching, shard_documents_split_after_end_of_text) {
  ScratchDir d("batch_docs");
  ShardWriter w(d.file("s.bin"), 50, 0);
  w.append(std::vector<int32_t>{7, 8, 0, 0, 5, 0, 3, 4, 6});  // the last one has no end-of-text
  w.commit();
  const std::vector<Example> docs = shard_documents(Shard(d.file("s.bin")));
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[0].input.empty());
  EXPECT_EQ(docs[0].target, (std::vector<int32_t>{7, 8, 0}));
  EXPECT_EQ(docs[1].target, (std::vector<int32_t>{5, 0}));
  EXPECT_EQ(docs[2].target, (std::vector<int32_t>{3, 4, 6}));
}
