// Gemm and MatMul as tosa.matmul ([B,M,K] x [B,K,N]). Constant operands are transposed and
// scaled here, so the weights reach the compiler in the layout the matmul reads.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/import/onnx/graph_importer.h"

namespace kiln::compiler::onnx_import {
namespace {

using TP = onnx::TensorProto;
using AT = onnx::AttributeProto;
namespace tosa = mlir::tosa;

mlir::Value BatchMatmul(GraphImporter& g, mlir::Value a, mlir::Value b, DType dtype) {
  auto as = llvm::cast<mlir::RankedTensorType>(a.getType()).getShape();
  auto bs = llvm::cast<mlir::RankedTensorType>(b.getType()).getShape();
  auto type = g.TensorType({as[0], as[1], bs[2]}, dtype);
  return tosa::MatMulOp::create(g.b(), g.loc(), type, a, b);
}

absl::Status HandleGemm(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * a, node.In(0));
  KILN_ASSIGN_OR_RETURN(Val * b, node.In(1));
  if (a->rank() != 2 || b->rank() != 2) return node.Error("A and B must be matrices");
  if (a->dtype != TP::FLOAT || b->dtype != TP::FLOAT)
    return node.Error("only FLOAT Gemm is supported");
  const bool trans_a = node.Int("transA", 0) != 0;
  const bool trans_b = node.Int("transB", 0) != 0;
  const double alpha = node.Float("alpha", 1.0F);
  const double beta = node.Float("beta", 1.0F);
  const int64_t m = trans_a ? a->shape[1] : a->shape[0];
  const int64_t k = trans_a ? a->shape[0] : a->shape[1];
  const int64_t kb = trans_b ? b->shape[1] : b->shape[0];
  const int64_t n = trans_b ? b->shape[0] : b->shape[1];
  if (k != kb)
    return node.Error(absl::StrCat("A ", ShapeString(a->shape), " and B ", ShapeString(b->shape),
                                   " do not multiply (transA=", trans_a, ", transB=", trans_b,
                                   ")"));
  GraphImporter& g = node.g();
  mlir::Value av = g.Logical(*a);
  if (trans_a) av = g.Transpose(av, {1, 0});
  mlir::Value bv;
  bool alpha_done = alpha == 1.0;
  if (b->is_host()) {
    HostTensor w = trans_b ? Transpose(*b->host, {1, 0}) : *b->host;
    if (!alpha_done)
      for (double& v : w.f) v = static_cast<float>(v * alpha);
    alpha_done = true;
    bv = g.Const(w);
  } else {
    bv = g.Logical(*b);
    if (trans_b) bv = g.Transpose(bv, {1, 0});
  }
  mlir::Value r = BatchMatmul(g, g.Reshape(av, {1, m, k}), g.Reshape(bv, {1, k, n}), TP::FLOAT);
  if (!alpha_done) r = g.Mul(r, g.Scalar(alpha, TP::FLOAT, 3));
  if (node.Has(2) && beta != 0.0) {
    KILN_ASSIGN_OR_RETURN(Val * c, node.In(2));
    auto bc = BroadcastShapes(c->shape, {m, n});
    if (!bc || *bc != std::vector<int64_t>{m, n} || c->rank() > 2)
      return node.Error(
          absl::StrCat("C ", ShapeString(c->shape), " does not broadcast to [", m, ",", n, "]"));
    mlir::Value cv;
    if (c->is_host()) {
      HostTensor t = *c->host;
      for (double& v : t.f) v = static_cast<float>(v * beta);
      cv = g.Const(t);
    } else {
      cv = g.Logical(*c);
      if (beta != 1.0) cv = g.Mul(cv, g.Scalar(beta, TP::FLOAT, c->rank()));
    }
    r = g.Add(r, g.ExpandRank(cv, 3));
  }
  return node.SetValue(0, g.Reshape(r, {m, n}), TP::FLOAT, {m, n});
}

absl::Status HandleMatMul(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * a, node.In(0));
  KILN_ASSIGN_OR_RETURN(Val * b, node.In(1));
  if (a->dtype != TP::FLOAT || b->dtype != TP::FLOAT)
    return node.Error("only FLOAT MatMul is supported");
  if (a->rank() < 1 || b->rank() < 1) return node.Error("operands must have rank 1 or more");
  GraphImporter& g = node.g();
  std::vector<int64_t> as = a->shape;
  std::vector<int64_t> bs = b->shape;
  const bool a_vec = as.size() == 1;
  const bool b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t m = as[as.size() - 2];
  const int64_t k = as.back();
  const int64_t n = bs.back();
  if (bs[bs.size() - 2] != k)
    return node.Error(absl::StrCat("operands ", ShapeString(a->shape), " and ",
                                   ShapeString(b->shape), " do not multiply"));
  std::vector<int64_t> a_batch(as.begin(), as.end() - 2);
  std::vector<int64_t> b_batch(bs.begin(), bs.end() - 2);
  auto batch = BroadcastShapes(a_batch, b_batch);
  if (!batch)
    return node.Error(absl::StrCat("batch dims of ", ShapeString(a->shape), " and ",
                                   ShapeString(b->shape), " do not broadcast"));
  std::vector<int64_t> shape = *batch;
  if (!a_vec) shape.push_back(m);
  if (!b_vec) shape.push_back(n);
  const int64_t bt = ElementCount(*batch);
  mlir::Value av = g.Reshape(g.Logical(*a), as);
  mlir::Value bv = g.Reshape(g.Logical(*b), bs);
  mlir::Value r;
  if (ElementCount(b_batch) == 1) {
    // Weights shared by every batch: one [batch*M, K] x [K, N] product.
    r = BatchMatmul(g, g.Reshape(av, {1, bt * m, k}), g.Reshape(bv, {1, k, n}), TP::FLOAT);
  } else {
    // tosa.matmul needs equal batches: tile the operand that broadcasts.
    auto full = [&](mlir::Value v, std::vector<int64_t> vb, int64_t rows, int64_t cols) {
      v = g.ExpandRank(v, static_cast<int64_t>(batch->size()) + 2);
      std::vector<int64_t> multiples;
      multiples.reserve(batch->size() + 2);
      const size_t offset = batch->size() - vb.size();
      for (size_t d = 0; d < batch->size(); ++d)
        multiples.push_back(d < offset || vb[d - offset] == 1 ? (*batch)[d] : 1);
      multiples.push_back(1);
      multiples.push_back(1);
      return g.Reshape(g.Tile(v, multiples), {bt, rows, cols});
    };
    r = BatchMatmul(g, full(av, a_batch, m, k), full(bv, b_batch, k, n), TP::FLOAT);
  }
  return node.SetValue(0, g.Reshape(r, shape), TP::FLOAT, shape);
}

}  // namespace

void AddMatmulOps(OpTable& t) {
  t["Gemm"] = {
      HandleGemm,
      {{"alpha", AT::FLOAT}, {"beta", AT::FLOAT}, {"transA", AT::INT}, {"transB", AT::INT}}};
  t["MatMul"] = {HandleMatMul, {}};
}

}  // namespace kiln::compiler::onnx_import
