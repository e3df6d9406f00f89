// Trainable token rows (PEFT's trainable_token_indices): rows `ids` of a frozen embedding and of
// an untied output head train on their own, as a small (n, C) parameter each, so added tokens
// learn while the base stays frozen under LoRA and only those rows are saved with the adapter.
//
// The rows' values live in the parameter and are copied into the frozen table (sync()) after
// every change, so every forward path that reads the table (the KV-cache decoders, merged
// export) sees them; a table stored in bf16 holds them rounded. Training routes the gradient to the
// rows: the lookup adds e - stop(e) (zero, with e the rows' own lookup), the head replaces the
// rows' columns (the token_logits op).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace aero {

class TokenRows {
 public:
  // Declares `prefix`.token_rows.weight (n, C) for the rows `ids` of `table` (V, C).
  TokenRows(ParamStore& store, const std::string& prefix, Param& table, std::vector<int32_t> ids);

  // The lookup of ids (...) that `base` (..., C) holds, with the gradient of the rows' positions
  // routed to the rows.
  Var embed(Tape& tape, Var base, const Tensor& ids) const;
  // Logits `base` (..., V) of x (..., C), with the gradient of the rows' columns routed to them.
  Var logits(Tape& tape, Var base, Var x) const;

  // table rows <- the rows' values (after a step, a load, an init).
  void sync() const;
  // The rows' values <- table rows (after the table was loaded).
  void capture();
  // Each row in `ids` that is one of mine starts at the mean of the table's rows [0, n_mean).
  void init_mean(const std::vector<int32_t>& ids, int64_t n_mean);

  const std::vector<int32_t>& ids() const { return ids_; }
  Param& rows() const { return *rows_; }
  Param& table() const { return *table_; }

 private:
  ParamStore* store_;
  Param* table_;
  Param* rows_;
  std::vector<int32_t> ids_;
  std::vector<int32_t> slot_;  // (V) id -> 1 + its row, 0 when not a trainable row
  Tensor ids_tensor_;          // (n) i32: ids_
};

// The token tables of a model (Model::token_tables): the input embedding and, when untied, the
// output head.
struct TokenTables {
  Embedding* embedding = nullptr;
  Linear* head = nullptr;  // nullptr: the head is tied to the embedding
};

// Trainable rows on a model's tables, hooked into them (Embedding::rows, Linear::rows).
struct TokenRowsAttachment {
  std::unique_ptr<TokenRows> embedding, head;
  int64_t params = 0;
  void sync() const;
  void capture();
  void init_mean(const std::vector<int32_t>& ids, int64_t n_mean);
};

// Declares the rows (before finalize()) and hooks them into the tables. Every id must be a row
// of the tables; the error says how many rows there are.
std::unique_ptr<TokenRowsAttachment> attach_token_rows(const TokenTables& tables, ParamStore& store,
                                                       const std::vector<int32_t>& ids);

// Mean initialisation of rows of trainable tables (full fine-tuning, no TokenRows): each row in
// `ids` of the embedding (and of an untied head) becomes the mean of rows [0, n_mean).
void init_rows_mean(const TokenTables& tables, const std::vector<int32_t>& ids, int64_t n_mean);

}  // namespace aero
