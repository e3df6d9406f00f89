#include "nn/token_rows.h"

#include <algorithm>
#include <set>

namespace aero {

namespace {

// x - stop(x): zero, with x's gradient.
Var zero_with_grad(Tape& tape, Var x) { return add(x, scale(tape.constant(x.value()), -1.0f)); }

// Row means of table rows [0, n) (V, C) -> (C), in double.
std::vector<float> mean_row(const Param& table, int64_t n) {
  const int64_t C = table.shape.d[1];
  std::vector<double> acc(size_t(C), 0.0);
  std::vector<float> row(static_cast<size_t>(C));
  for (int64_t r = 0; r < n; r++) {
    read_values_f32(table, r * C, C, row.data());  // the table may be stored in bf16
    for (int64_t c = 0; c < C; c++) acc[size_t(c)] += row[size_t(c)];
  }
  std::vector<float> m(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; c++) m[size_t(c)] = float(acc[size_t(c)] / double(n));
  return m;
}

void check_mean_rows(const Param& table, int64_t n_mean) {
  AERO_CHECK(n_mean > 0 && n_mean <= table.shape.d[0], "[tokens] mean of the first ", n_mean,
             " rows of ", table.name, ", which has ", table.shape.d[0]);
}

}  // namespace

TokenRows::TokenRows(ParamStore& store, const std::string& prefix, Param& table,
                     std::vector<int32_t> ids)
    : store_(&store), table_(&table), ids_(std::move(ids)) {
  AERO_CHECK(table.shape.ndim == 2, "[tokens] ", table.name, " is not a (rows, dim) table");
  const int64_t V = table.shape.d[0], C = table.shape.d[1];
  AERO_CHECK(!ids_.empty(), "[tokens] no token ids for ", table.name);
  slot_.assign(size_t(V), 0);
  for (size_t k = 0; k < ids_.size(); k++) {
    const int32_t id = ids_[k];
    AERO_CHECK(id >= 0 && id < V, "[tokens] token id ", id, " is not a row of ", table.name, " (",
               V, " rows)");
    AERO_CHECK(slot_[size_t(id)] == 0, "[tokens] token id ", id, " listed twice");
    slot_[size_t(id)] = int32_t(k + 1);
  }
  ids_tensor_ = Tensor::empty({int64_t(ids_.size())}, DType::i32);
  std::copy(ids_.begin(), ids_.end(), ids_tensor_.i32());
  rows_ = &store.declare(prefix + ".token_rows.weight", {int64_t(ids_.size()), C}, Init::zeros);
  rows_->decay = false;  // as PEFT's trainable_tokens_delta under AdamW: every row alike
}

Var TokenRows::embed(Tape& tape, Var base, const Tensor& ids) const {
  const Var r = store_->var(tape, *rows_);
  if (!r.requires_grad()) return base;
  // Row 0 of (zero, rows) stands for every position that is not a trainable token.
  const int64_t C = rows_->shape.d[1];
  Tensor local = tape.alloc(ids.shape(), DType::i32);
  const int32_t* id = ids.i32();
  for (int64_t i = 0; i < ids.numel(); i++) local.i32()[i] = slot_[size_t(id[i])];
  Tensor zero = tape.alloc({1, C});
  std::fill_n(zero.f32(), C, 0.0f);
  const Var e = embedding(concat({tape.constant(zero), r}, 0), local);
  return add(base, zero_with_grad(tape, e));
}

Var TokenRows::logits(Tape& tape, Var base, Var x) const {
  const Var r = store_->var(tape, *rows_);
  if (!r.requires_grad()) return base;
  return token_logits(base, x, r, ids_tensor_);
}

void TokenRows::sync() const {
  const int64_t C = rows_->shape.d[1];
  for (size_t k = 0; k < ids_.size(); k++)
    write_values_f32(*table_, ids_[k] * C, C, rows_->value.f32() + int64_t(k) * C);
}

void TokenRows::capture() {
  const int64_t C = rows_->shape.d[1];
  for (size_t k = 0; k < ids_.size(); k++)
    read_values_f32(*table_, ids_[k] * C, C, rows_->value.f32() + int64_t(k) * C);
}

void TokenRows::init_mean(const std::vector<int32_t>& ids, int64_t n_mean) {
  check_mean_rows(*table_, n_mean);
  const std::vector<float> m = mean_row(*table_, n_mean);
  const int64_t C = rows_->shape.d[1];
  for (int32_t id : ids) {
    AERO_CHECK(id >= 0 && size_t(id) < slot_.size() && slot_[size_t(id)] > 0, "[tokens] id ", id,
               " is not a trainable row of ", table_->name);
    std::copy(m.begin(), m.end(), rows_->value.f32() + int64_t(slot_[size_t(id)] - 1) * C);
  }
  sync();
}

void TokenRowsAttachment::sync() const {
  if (embedding) embedding->sync();
  if (head) head->sync();
}

void TokenRowsAttachment::capture() {
  if (embedding) embedding->capture();
  if (head) head->capture();
}

void TokenRowsAttachment::init_mean(const std::vector<int32_t>& ids, int64_t n_mean) {
  if (embedding) embedding->init_mean(ids, n_mean);
  if (head) head->init_mean(ids, n_mean);
}

std::unique_ptr<TokenRowsAttachment> attach_token_rows(const TokenTables& tables, ParamStore& store,
                                                       const std::vector<int32_t>& ids) {
  AERO_CHECK(tables.embedding != nullptr,
             "[tokens] this model has no token embedding to give trainable rows");
  auto att = std::make_unique<TokenRowsAttachment>();
  auto prefix = [](const Param& p) {
    return p.name.ends_with(".weight") ? p.name.substr(0, p.name.size() - 7) : p.name;
  };
  Param& emb = tables.embedding->weight_param();
  att->embedding = std::make_unique<TokenRows>(store, prefix(emb), emb, ids);
  tables.embedding->rows = att->embedding.get();
  att->params = att->embedding->rows().numel();
  if (tables.head) {
    Param& head = tables.head->weight_param();
    att->head = std::make_unique<TokenRows>(store, prefix(head), head, ids);
    tables.head->rows = att->head.get();
    att->params += att->head->rows().numel();
  }
  return att;
}

void init_rows_mean(const TokenTables& tables, const std::vector<int32_t>& ids, int64_t n_mean) {
  for (Param* p : {tables.embedding ? &tables.embedding->weight_param() : nullptr,
                   tables.head ? &tables.head->weight_param() : nullptr}) {
    if (!p) continue;
    check_mean_rows(*p, n_mean);
    const std::vector<float> m = mean_row(*p, n_mean);
    const int64_t V = p->shape.d[0], C = p->shape.d[1];
    for (int32_t id : ids) {
      AERO_CHECK(id >= 0 && id < V, "[tokens] token id ", id, " is not a row of ", p->name, " (", V,
                 " rows)");
      write_values_f32(*p, int64_t(id) * C, C, m.data());
    }
  }
}

}  // namespace aero
