// The language-model task (docs/lm.md) against independent numbers: the GPT is causal (a position's
// logits do not depend on later tokens); its gradients match central finite differences (double,
// quantization off); with quantization on, the attention products' operands and errors are the core
// quantizer's results bit for bit; AdamW's step equals a hand-computed one; the text loader splits
// and refuses bad input with clear errors; a run resumes bit-identically. The prob tap (the attention
// probabilities) is the masked softmax of the scores, stored only when read, and resumes too.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "rngfree/quantize.hpp"
#include "rngfree/train/optimizer.hpp"
#include "rngfree/train/text_data.hpp"
#include "rngfree/train/trainer.hpp"
#include "support/run_options.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"
#include "support/linear_net.hpp"

namespace fs = std::filesystem;
using namespace rngfree;
using namespace rngfree::train;
using rngfree::testing::error_of;

namespace {

fs::path write_text(const std::string& name, const std::string& bytes) {
  const fs::path d = rngfree::testing::fresh_test_dir("lm", name);
  const fs::path p = d / "text.txt";
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// A text with structure a small model learns: a repeated pangram-like sentence with a counter.
std::string learnable_text(int lines) {
  std::string s;
  for (int i = 0; i < lines; ++i) s += "the quick brown fox " + std::to_string(i % 7) + " jumps over the lazy dog.\n";
  return s;
}

torch::Tensor core_quantize(const torch::Tensor& t, const std::string& fmt, const std::string& rnd) {
  torch::Tensor in = t.contiguous(), out = torch::empty_like(in);
  quantize({in.data_ptr<float>(), static_cast<size_t>(in.numel())}, {out.data_ptr<float>(), static_cast<size_t>(out.numel())},
           Format::parse(fmt), Rounding::parse(rnd), {});
  return out;
}

bool bits_equal(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  torch::Tensor a = a_in.contiguous(), b = b_in.contiguous();
  return a.sizes() == b.sizes() &&
         std::memcmp(a.data_ptr<float>(), b.data_ptr<float>(), static_cast<size_t>(a.numel()) * 4) == 0;
}

}  // namespace

// Changing the token at position t changes no logits before t, and changes the logits at t.
TEST(LmModel, CausalMasking) {
  torch::manual_seed(3);
  Engine e;
  auto net = make_lm_model("gpt", 32, 2, 4, 16, e);
  torch::Tensor x = torch::randint(0, 256, {2, 16}, torch::kInt64);
  torch::NoGradGuard guard;
  const torch::Tensor a = net->forward(x);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 16, 256}));
  for (int64_t t : {0, 5, 15}) {
    torch::Tensor y = x.clone();
    y.index_put_({torch::indexing::Slice(), t}, (x.index({torch::indexing::Slice(), t}) + 1) % 256);
    const torch::Tensor b = net->forward(y);
    if (t > 0) {
      EXPECT_TRUE(torch::equal(a.narrow(1, 0, t), b.narrow(1, 0, t))) << "positions before " << t << " changed";
    }
    EXPECT_FALSE(torch::equal(a.narrow(1, t, 1), b.narrow(1, t, 1))) << "position " << t << " did not see its token";
  }
}

// With every site off, autograd's gradients of the loss equal central differences (double precision)
// for the attention's projection, the position embedding and the head.
TEST(LmModel, GradientsMatchFiniteDifferences) {
  torch::manual_seed(5);
  Engine e;
  auto net = make_lm_model("gpt", 16, 1, 2, 8, e);
  net->to(torch::kDouble);
  torch::Tensor x = torch::randint(0, 256, {2, 8}, torch::kInt64);
  torch::Tensor y = torch::randint(0, 256, {2 * 8}, torch::kInt64);
  auto loss_of = [&] { return torch::nn::functional::cross_entropy(net->forward(x).view({-1, 256}), y); };
  net->zero_grad();
  loss_of().backward();
  int checked = 0;
  for (auto& p : net->named_parameters()) {
    if (p.key() != "h0_qkv.weight" && p.key() != "wpe" && p.key() != "head.weight" && p.key() != "h0_ln1.weight") continue;
    torch::Tensor v = p.value();
    torch::Tensor g = v.grad().clone();
    for (int64_t i = 0; i < std::min<int64_t>(v.numel(), 40); i += 7) {
      torch::NoGradGuard guard;
      double* d = v.data_ptr<double>() + i;
      const double h = 1e-6, orig = *d;
      *d = orig + h;
      const double up = loss_of().item<double>();
      *d = orig - h;
      const double down = loss_of().item<double>();
      *d = orig;
      const double fd = (up - down) / (2 * h), ad = g.view(-1)[i].item<double>();
      EXPECT_NEAR(ad, fd, 1e-7 + 1e-5 * std::fabs(fd)) << p.key() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

// Q·Kᵀ as a quantized layer: the product of the A site's roundings of both operands, and dL/d(scores)
// rounded by the E site, bit for bit what the core quantizer gives (nearest-even).
TEST(LmModel, AttentionProductSitesAreBitExact) {
  torch::manual_seed(7);
  Engine e;
  QLayer& l = e.add_layer("qk");
  QMatmul mm(&l);
  QuantConfig q;
  for (Site s : {Site::kActivations, Site::kErrors}) q.sites[static_cast<int>(s)].format = "fixed:8:dyn";
  e.configure(q, 1);
  torch::Tensor a = torch::randn({2, 3, 5, 4}).requires_grad_(true), b = torch::randn({2, 3, 4, 5}).requires_grad_(true);
  torch::Tensor y = mm->forward(a, b);
  const torch::Tensor qa = core_quantize(a.detach(), "fixed:8:dyn", "nearest-even");
  const torch::Tensor qb = core_quantize(b.detach(), "fixed:8:dyn", "nearest-even");
  EXPECT_TRUE(bits_equal(y.detach(), torch::matmul(qa, qb)));
  EXPECT_FALSE(bits_equal(y.detach(), torch::matmul(a.detach(), b.detach()))) << "the sites must round";
  const torch::Tensor up = torch::randn({2, 3, 5, 5});
  y.backward(up);
  const torch::Tensor qe = core_quantize(up, "fixed:8:dyn", "nearest-even");
  EXPECT_TRUE(bits_equal(a.grad(), torch::matmul(qe, qb.transpose(-2, -1))));
  EXPECT_TRUE(bits_equal(b.grad(), torch::matmul(qa.transpose(-2, -1), qe)));
}

// AdamW against the formula computed by hand in double precision (PyTorch's AdamW step), three steps
// with weight decay on a matrix and none on a bias; the first step moves each weight by lr·sign(g).
TEST(LmOptimizer, AdamWMatchesHandComputedSteps) {
  Engine e;
  QLayer& l = e.add_layer("fc");
  QLinear lin(3, 2, &l, true);
  rngfree::testing::LinearNet wrap(lin);
  QSgd opt(wrap, e, 0.0, 0.1);
  opt.use_adamw(0.9, 0.99);
  {
    torch::NoGradGuard guard;
    lin->weight.copy_(torch::tensor({{1.0f, -0.5f, 0.25f}, {2.0f, 0.0f, -1.0f}}));
    lin->bias.copy_(torch::tensor({0.5f, -0.5f}));
  }
  const double lr = 0.1, wd = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8;
  std::vector<double> w = {1.0, -0.5, 0.25, 2.0, 0.0, -1.0}, bias = {0.5, -0.5};
  std::vector<double> mw(6, 0), vw(6, 0), mb(2, 0), vb(2, 0);
  const float grads[3][6] = {{0.5f, -0.25f, 1.0f, 0.0f, 2.0f, -0.125f},
                             {-0.5f, 0.75f, 0.5f, 0.25f, 1.0f, 0.125f},
                             {0.25f, 0.25f, -2.0f, 0.5f, 0.0f, 0.0f}};
  for (int t = 1; t <= 3; ++t) {
    lin->weight.mutable_grad() = torch::from_blob(const_cast<float*>(grads[t - 1]), {2, 3}, torch::kFloat32).clone();
    lin->bias.mutable_grad() = torch::tensor({grads[t - 1][0], grads[t - 1][1]});
    opt.step(lr);
    auto hand = [&](double& x, double& m, double& v, double g, bool decay) {
      if (decay) x *= 1 - lr * wd;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
      x -= lr * mhat / (std::sqrt(vhat) + eps);
    };
    for (int i = 0; i < 6; ++i) hand(w[i], mw[i], vw[i], grads[t - 1][i], true);
    for (int i = 0; i < 2; ++i) hand(bias[i], mb[i], vb[i], grads[t - 1][i], false);
    for (int i = 0; i < 6; ++i) {
      EXPECT_NEAR(lin->weight.view(-1)[i].item<double>(), w[i], 2e-6) << "step " << t << " weight " << i;
    }
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(lin->bias[i].item<double>(), bias[i], 2e-6) << "step " << t << " bias " << i;
    if (t == 1) {  // known answer: (1 - 0.01)·1 - 0.1·sign(0.5); a zero gradient moves only by decay
      EXPECT_NEAR(lin->weight[0][0].item<double>(), 0.89, 1e-6);
      EXPECT_NEAR(lin->weight[1][0].item<double>(), 1.98, 1e-6);
    }
  }
}

// U, M and V of AdamW round into their formats: every master weight and moment lies on its grid.
TEST(LmOptimizer, AdamWSitesRoundState) {
  Engine e;
  QLayer& l = e.add_layer("fc");
  QLinear lin(4, 4, &l, false);
  rngfree::testing::LinearNet wrap(lin);
  QuantConfig q;
  q.sites[static_cast<int>(Site::kUpdate)].format = "bf16";
  q.sites[static_cast<int>(Site::kMomentum)].format = "fixed:8:dyn";
  q.sites[static_cast<int>(Site::kVariance)].format = "fp16";
  e.configure(q, 1);
  QSgd opt(wrap, e, 0.0, 0.0);
  opt.use_adamw(0.9, 0.99);
  lin->weight.mutable_grad() = torch::randn({4, 4});
  opt.step(1e-3);
  const QSgd::Param& p = opt.params.at(0);
  EXPECT_TRUE(bits_equal(lin->weight.detach(), core_quantize(lin->weight.detach(), "bf16", "nearest-even")));
  EXPECT_TRUE(bits_equal(p.momentum, core_quantize(p.momentum, "fixed:8:dyn", "nearest-even")));
  EXPECT_TRUE(bits_equal(p.variance, core_quantize(p.variance, "fp16", "nearest-even")));
  EXPECT_FALSE(bits_equal(p.variance, core_quantize(p.variance, "fixed:4:dyn", "nearest-even"))) << "can fail";
}

// fortunes' records: the lines "%" separate them; every tenth (k % 10 == 9) validates.
TEST(LmText, FortunesSplitByRecord) {
  std::string a, b;
  for (int k = 0; k < 12; ++k) (k < 6 ? a : b) += "quote " + std::to_string(k) + "\n  -- someone\n%\n";
  const TextSplit s = split_fortunes({a, b});
  const std::string train(s.train.begin(), s.train.end()), val(s.val.begin(), s.val.end());
  EXPECT_EQ(val, "quote 9\n  -- someone\n%\n");
  EXPECT_EQ(train.find("quote 9"), std::string::npos);
  EXPECT_NE(train.find("quote 11\n  -- someone\n%\n"), std::string::npos);
  EXPECT_EQ(train.size() + val.size(), a.size() + b.size());
}

// Debian's fortunes package (installed by scripts/install-deps.sh): every listed file read, about a
// tenth of the text validates.
TEST(LmText, FortunesPackageLoads) {
  const TextSplit s = load_text_data("fortunes");
  EXPECT_EQ(s.files.size(), fortunes_files().size());
  const double frac = static_cast<double>(s.val.size()) / static_cast<double>(s.train.size() + s.val.size());
  EXPECT_GT(frac, 0.07);
  EXPECT_LT(frac, 0.13);
  EXPECT_GT(s.train.size(), 1'000'000u);
}

// text:FILE: bytes as they are (non-UTF-8 included), the last 10 % validates; clear errors.
TEST(LmText, UserFileAndErrors) {
  std::string bytes(1000, 'a');
  bytes[3] = static_cast<char>(0xff);  // not UTF-8
  bytes[950] = static_cast<char>(0x80);
  const fs::path p = write_text("bytes", bytes);
  const TextSplit s = load_text_data("text:" + p.string());
  EXPECT_EQ(s.train.size(), 900u);
  EXPECT_EQ(s.val.size(), 100u);
  EXPECT_EQ(s.train[3], 0xff);
  EXPECT_EQ(s.val[50], 0x80);
  EXPECT_NO_THROW(check_text_length(s, 99));
  const std::string short_err = error_of([&] { check_text_length(s, 100); });
  EXPECT_NE(short_err.find("validation text has 100 bytes"), std::string::npos) << short_err;
  EXPECT_NE(short_err.find("--context 100"), std::string::npos) << short_err;

  const fs::path empty = write_text("empty", "");
  const std::string e1 = error_of([&] { load_text_data("text:" + empty.string()); });
  EXPECT_NE(e1.find("is empty"), std::string::npos) << e1;
  const std::string e2 = error_of([&] { load_text_data("text:/nonexistent/file.txt"); });
  EXPECT_NE(e2.find("not found"), std::string::npos) << e2;
  const std::string e3 = error_of([&] { load_text_data("text:" + p.parent_path().string()); });
  EXPECT_NE(e3.find("is a folder"), std::string::npos) << e3;
  // the trainer refuses a text shorter than a window
  TrainConfig c;
  apply_task(c, "lm");
  c.data = "text:" + p.string();
  c.context = 128;
  const std::string e4 = error_of([&] { Trainer t(c); });
  EXPECT_NE(e4.find("shorter than one window of --context 128"), std::string::npos) << e4;
}

// Config: the lm task's keys are validated with the allowed values named.
TEST(LmConfig, ValidatesKeys) {
  TrainConfig c;
  apply_task(c, "lm");
  EXPECT_EQ(c.model, "gpt");
  EXPECT_EQ(c.optimizer, "adamw");
  EXPECT_NO_THROW(c.validate());
  c.heads = 3;
  EXPECT_NE(error_of([&] { c.validate(); }).find("heads 3: must divide the width 128"), std::string::npos);
  c.heads = 4;
  c.model = "lenet5";
  EXPECT_NE(error_of([&] { c.validate(); }).find("allowed for task lm: gpt"), std::string::npos);
  c.model = "gpt";
  c.optimizer = "adam";
  EXPECT_NE(error_of([&] { c.validate(); }).find("allowed sgd, adamw"), std::string::npos);
  c.optimizer = "adamw";
  apply_toml_text(c, "context = 64\nblocks = 2\nsteps = 10\n[quant.V]\nformat = \"bf16\"\n");
  EXPECT_EQ(c.context, 64);
  EXPECT_EQ(c.blocks, 2);
  EXPECT_EQ(c.steps, 10);
  const TrainConfig back = config_from_json(to_json(c));
  EXPECT_TRUE(config_differences(c, back).empty());
}

namespace {
TrainConfig tiny_lm(const fs::path& text, const std::string& preset) {
  TrainConfig c;
  apply_task(c, "lm");
  apply_preset(c, preset);
  c.data = "text:" + text.string();
  c.width = 32;
  c.blocks = 1;
  c.heads = 2;
  c.context = 16;
  c.batch = 8;
  c.test_limit = 8;
  c.threads = 1;
  c.lr = 1e-2;
  return c;
}
}  // namespace

// A run of --steps 12 with checkpoints after each of its epochs resumes bit-identically (random
// windows keyed by step, AdamW's moments and step count, harvested taps), and learns.
TEST(LmRun, StepsResumeBitIdenticalAndLearns) {
  const fs::path text = write_text("learn", learnable_text(16));  // 752 bytes: 677 train, 75 validate
  for (const std::string preset : {"fp32", "int8-dyn-sr-harvest"}) {
    SCOPED_TRACE(preset);
    TrainConfig c = tiny_lm(text, preset);
    c.steps = 12;
    Trainer probe(c);
    ASSERT_EQ(probe.steps_per_epoch(), 5);  // floor(677 / (8 windows × 16 bytes)): epochs of 5, 5, 2 steps
    const fs::path a = rngfree::testing::fresh_test_dir("lm", preset + "-a");
    const fs::path b = rngfree::testing::fresh_test_dir("lm", preset + "-b");
    RunSummary sa = run_training(c, rngfree::testing::quiet_run(a));
    RunOptions interrupted = rngfree::testing::quiet_run(b);
    interrupted.stop_after_epochs = 1;
    (void)run_training(c, interrupted);
    RunSummary sb = run_training(c, rngfree::testing::quiet_run(b, true));
    ASSERT_EQ(sa.epochs.size(), sb.epochs.size());
    EXPECT_EQ(sa.epochs.back().step, 12);
    EXPECT_EQ(sa.val_loss, sb.val_loss);
    Trainer ta(c), tb(c);
    ta.load_checkpoint((a / "checkpoint.pt").string());
    tb.load_checkpoint((b / "checkpoint.pt").string());
    EXPECT_EQ(ta.parameter_hash(), tb.parameter_hash());
    EXPECT_NEAR(sa.val_bpc, sa.val_loss / std::log(2.0), 1e-12);
    EXPECT_LT(sa.val_loss, std::log(256.0) - 1.0) << "12 steps must learn the byte statistics";
    const std::string csv = rngfree::testing::read_file(a / "metrics.csv");
    EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,step,train_loss,val_loss,val_bpc,val_accuracy,lr,seconds,tokens_per_s");
  }
}

namespace {
// The rows of metrics.csv without the timing columns (seconds, tokens_per_s), split into fields.
std::vector<std::vector<std::string>> lm_metric_rows_without_timing(const fs::path& run) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(rngfree::testing::read_file(run / "metrics.csv"));
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    f.resize(7);  // epoch, step, train_loss, val_loss, val_bpc, val_accuracy, lr
    rows.push_back(f);
  }
  return rows;
}
}  // namespace

// A --steps 6 run (epochs of 5 steps: the second one partial) resumed with --steps 8 writes exactly
// the rows of an uninterrupted --steps 8 run: one per epoch, the continued epoch's row replacing the
// partial one, its training loss over all 5 of its steps (the partial epoch's sums are in the
// checkpoint). The constant schedule makes the two runs' updates the same (cosine depends on N).
TEST(LmRun, StepsResumedWithMoreStepsWritesOneRowPerEpoch) {
  const fs::path text = write_text("more-steps", learnable_text(16));
  for (const std::string preset : {"fp32", "int8-dyn-sr-harvest"}) {
    SCOPED_TRACE(preset);
    TrainConfig c = tiny_lm(text, preset);
    c.schedule = "constant";
    c.steps = 8;
    const fs::path a = rngfree::testing::fresh_test_dir("lm", preset + "-more-a");
    const fs::path b = rngfree::testing::fresh_test_dir("lm", preset + "-more-b");
    const RunSummary sa = run_training(c, rngfree::testing::quiet_run(a));
    ASSERT_EQ(sa.epochs.size(), 2u);
    EXPECT_EQ(sa.epochs[1].step, 8);
    TrainConfig first = c;
    first.steps = 6;
    const RunSummary s6 = run_training(first, rngfree::testing::quiet_run(b));
    ASSERT_EQ(s6.epochs.size(), 2u);
    EXPECT_EQ(s6.epochs[1].epoch, 2);
    EXPECT_EQ(s6.epochs[1].step, 6);
    const RunSummary sb = run_training(c, rngfree::testing::quiet_run(b, true));
    ASSERT_EQ(sb.epochs.size(), 2u) << "the partial epoch 2 and its continuation must be one row";
    for (size_t e = 0; e < 2; ++e) {
      EXPECT_EQ(sb.epochs[e].epoch, static_cast<int>(e + 1));
      EXPECT_EQ(sb.epochs[e].step, sa.epochs[e].step);
      EXPECT_EQ(sb.epochs[e].train_loss, sa.epochs[e].train_loss) << "epoch " << e + 1;
      EXPECT_EQ(sb.epochs[e].test_loss, sa.epochs[e].test_loss) << "epoch " << e + 1;
    }
    EXPECT_EQ(lm_metric_rows_without_timing(b), lm_metric_rows_without_timing(a));
    Trainer ta(c), tb(c);
    ta.load_checkpoint((a / "checkpoint.pt").string());
    tb.load_checkpoint((b / "checkpoint.pt").string());
    EXPECT_EQ(ta.parameter_hash(), tb.parameter_hash());
  }
}

// rngfree sample's generator: the same seed gives the same bytes, another seed other bytes;
// temperature 0 takes the most likely byte (the argmax of one forward pass of the same parameters);
// a negative temperature is refused.
TEST(LmRun, GenerateIsSeededAndGreedyAtTemperatureZero) {
  const fs::path text = write_text("generate", learnable_text(16));
  TrainConfig c = tiny_lm(text, "fp32");
  c.steps = 5;
  Trainer t(c);
  t.train_steps(5);
  const std::string a = t.generate("the ", 40, 1.0, 7), b = t.generate("the ", 40, 1.0, 7);
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, t.generate("the ", 40, 1.0, 8));
  const std::string g = t.generate("the ", 1, 0.0, 1);
  Engine e;
  torch::manual_seed(c.seed);
  // The greedy byte is the argmax of a fresh forward pass of the same parameters.
  auto net = make_lm_model("gpt", c.width, c.blocks, c.heads, c.context, e);
  const std::vector<float> params = t.parameters();
  size_t k = 0;
  {
    torch::NoGradGuard guard;
    for (auto& p : net->parameters()) {
      std::memcpy(p.data_ptr<float>(), params.data() + k, static_cast<size_t>(p.numel()) * 4);
      k += static_cast<size_t>(p.numel());
    }
    net->eval();
    torch::Tensor x = torch::tensor({'t', 'h', 'e', ' '}, torch::kInt64).view({1, 4});
    EXPECT_EQ(static_cast<unsigned char>(g[0]), net->forward(x).select(1, 3).argmax().item<int64_t>());
  }
  EXPECT_NE(error_of([&] { (void)t.generate("x", 1, -1.0, 1); }).find("temperature -1"), std::string::npos);
}

// The gpt's tensor sites ([quant.layernorm], [quant.softmax], [quant.embedding]): parsed from TOML
// and saved with the run; bad values refused naming the key, the value and what is allowed.
TEST(LmConfig, TensorSitesParseRoundTripAndRefuseBadValues) {
  TrainConfig c;
  apply_task(c, "lm");
  apply_toml_text(c, "[quant.softmax]\nformat = \"bf16\"\nrounding = \"stochastic:8\"\nsource = \"philox\"\n"
                     "[quant.layernorm]\nformat = \"e4m3\"\n");
  const SiteConfig& sm = c.quant.tensors[static_cast<int>(TensorSite::kSoftmax)];
  EXPECT_EQ(sm.format, "bf16");
  EXPECT_EQ(sm.rounding, "stochastic:8");
  EXPECT_EQ(sm.source, "philox");
  EXPECT_EQ(c.quant.tensors[static_cast<int>(TensorSite::kLayerNorm)].format, "e4m3");
  EXPECT_EQ(c.quant.tensors[static_cast<int>(TensorSite::kEmbedding)].format, "");
  EXPECT_TRUE(c.quant.any());
  EXPECT_NO_THROW(c.validate());
  const TrainConfig back = config_from_json(to_json(c));
  EXPECT_TRUE(config_differences(c, back).empty());
  EXPECT_EQ(back.quant.tensors[static_cast<int>(TensorSite::kSoftmax)].source, "philox");
  TrainConfig other = back;
  other.quant.tensors[static_cast<int>(TensorSite::kSoftmax)].format = "fp16";
  const auto diff = config_differences(back, other);
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_NE(diff[0].find("quant.softmax.format"), std::string::npos) << diff[0];

  auto refused = [](const std::string& toml, const std::string& task = "lm") {
    TrainConfig t;
    apply_task(t, task);
    return error_of([&] {
      apply_toml_text(t, toml);
      t.validate();
    });
  };
  EXPECT_NE(refused("[quant.layernorm]\nformat = \"e4m3\"\n", "classify").find("only task lm"), std::string::npos);
  EXPECT_NE(refused("[quant.embedding]\nformat = \"bogus\"\n").find("quant.embedding"), std::string::npos);
  EXPECT_NE(refused("[quant.softmax]\nformat = \"bf16\"\nrounding = \"stochastic:8\"\n").find("quant.softmax.source: empty"),
            std::string::npos);
  EXPECT_NE(refused("[quant.softmax]\nformat = \"bf16\"\nrounding = \"stochastic:8\"\nsource = \"harvest\"\n")
                .find("quant.softmax.source 'harvest': harvested words are not available"),
            std::string::npos);
  EXPECT_NE(refused("[quant.layernorm]\nformat = \"bf16\"\nrounding = \"stochastic:8\"\nsource = \"lfsr:4\"\n")
                .find("gives 4 random bits per word, but rounding 'stochastic:8' needs 8"),
            std::string::npos);
  EXPECT_NE(refused("[quant.layernorm]\nformat = \"bf16\"\nrounding = \"sideways\"\n").find("quant.layernorm"),
            std::string::npos);
  EXPECT_NE(refused("[quant.softmax]\nformt = \"bf16\"\n").find("unknown key 'quant.softmax.formt'"), std::string::npos);
  EXPECT_NE(refused("[quant.attention]\nformat = \"bf16\"\n").find("[quant.layernorm] [quant.softmax] [quant.embedding]"),
            std::string::npos);
}

namespace {
// A forward and backward pass of a fresh gpt (seeded) on fixed tokens with the tensor sites of `q`;
// the observer sees each active site's rounding.
torch::Tensor gpt_logits_with(const QuantConfig& q, Engine& e, bool backward = false) {
  torch::manual_seed(11);
  auto net = make_lm_model("gpt", 32, 1, 2, 16, e);
  e.configure(q, 5);
  torch::Tensor x = torch::arange(0, 32, torch::kInt64).mul(37).remainder(256).view({2, 16});
  torch::Tensor logits = net->forward(x);
  if (backward) {
    logits.square().mean().backward();
    for (const auto& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  }
  return logits.detach();
}
}  // namespace

// With a tensor site on, every value it passes on is on its format's grid (rounding it again to
// nearest-even changes no bit), each value is the core quantizer's result for the FP32 tensor
// (nearest-even) or one of its two neighbours on the grid (stochastic), the three sites are called
// where docs/lm.md says (LayerNorm 3 times in a 1-block gpt, softmax and embedding once), and the
// gradient passes (straight-through).
TEST(LmModel, TensorSitesRoundOntoTheFormatGrid) {
  QuantConfig q;
  q.tensors[static_cast<int>(TensorSite::kLayerNorm)].format = "e4m3";
  q.tensors[static_cast<int>(TensorSite::kEmbedding)].format = "e5m2";
  SiteConfig& sm = q.tensors[static_cast<int>(TensorSite::kSoftmax)];
  sm.format = "bf16";
  sm.rounding = "stochastic:8";
  sm.source = "philox";
  const std::array<std::string, kNumTensorSites> formats = {"e4m3", "bf16", "e5m2"};
  std::array<int, kNumTensorSites> calls{};
  std::array<int64_t, kNumTensorSites> changed{};
  Engine e;
  e.tensor_site_observer = [&](TensorSite s, const torch::Tensor& in, const torch::Tensor& out) {
    const int k = static_cast<int>(s);
    ++calls[k];
    const torch::Tensor fin = in.detach().contiguous(), fout = out.detach().contiguous();
    EXPECT_TRUE(bits_equal(core_quantize(fout, formats[k], "nearest-even"), fout)) << kTensorSiteNames[k];
    if (s == TensorSite::kSoftmax) {
      const torch::Tensor down = core_quantize(fin, formats[k], "down"), up = core_quantize(fin, formats[k], "up");
      EXPECT_TRUE(torch::logical_or(fout.eq(down), fout.eq(up)).all().item<bool>());
    } else {
      EXPECT_TRUE(bits_equal(core_quantize(fin, formats[k], "nearest-even"), fout)) << kTensorSiteNames[k];
    }
    changed[k] += fout.ne(fin).sum().item<int64_t>();
  };
  const torch::Tensor on = gpt_logits_with(q, e, true);
  EXPECT_EQ(calls, (std::array<int, kNumTensorSites>{3, 1, 1}));
  Engine plain;
  EXPECT_FALSE(bits_equal(on, gpt_logits_with(QuantConfig{}, plain))) << "the rounded tensors are not the ones used";
  for (int k = 0; k < kNumTensorSites; ++k) EXPECT_GT(changed[k], 0) << kTensorSiteNames[k] << " rounded nothing";
}

// Off (the default) the gpt is what it was: no site is called, and a format that holds every FP32
// value (float:8:23) on all three sites gives the same logits, bit for bit, as the sites off; so does
// training, whose gradients pass the sites unchanged.
TEST(LmModel, TensorSitesOffOrExactLeaveResultsBitIdentical) {
  Engine off;
  int calls = 0;
  off.tensor_site_observer = [&](TensorSite, const torch::Tensor&, const torch::Tensor&) { ++calls; };
  QuantConfig q_off;
  q_off.tensors[static_cast<int>(TensorSite::kSoftmax)].rounding = "stochastic:8";  // no format: off
  q_off.tensors[static_cast<int>(TensorSite::kSoftmax)].source = "philox";
  const torch::Tensor a = gpt_logits_with(q_off, off);
  EXPECT_EQ(calls, 0);
  QuantConfig q_exact;
  for (auto& s : q_exact.tensors) s.format = "float:8:23";
  Engine exact;
  exact.tensor_site_observer = [&](TensorSite, const torch::Tensor&, const torch::Tensor&) { ++calls; };
  const torch::Tensor b = gpt_logits_with(q_exact, exact);
  EXPECT_EQ(calls, 5);
  EXPECT_TRUE(bits_equal(a, b));

  const fs::path text = write_text("tensor-sites-exact", learnable_text(16));
  TrainConfig c = tiny_lm(text, "int8-dyn-sr-philox");
  Trainer plain(c);
  for (auto& s : c.quant.tensors) s.format = "float:8:23";
  Trainer rounded(c);
  plain.train_steps(3);
  rounded.train_steps(3);
  EXPECT_EQ(plain.parameter_hash(), rounded.parameter_hash());
}

namespace {
// Trains `c` uninterrupted into the fresh folder NAME-a and, into NAME-b, stopped after its first
// epoch and resumed (`interrupted` sees NAME-b in between); expects both to end alike (validation
// loss, parameter hash, bit for bit) and returns the uninterrupted run's parameter hash.
uint64_t expect_resume_bit_identical(const TrainConfig& c, const std::string& name,
                                     const std::function<void(const fs::path&)>& interrupted = {}) {
  const fs::path a = rngfree::testing::fresh_test_dir("lm", name + "-a");
  const fs::path b = rngfree::testing::fresh_test_dir("lm", name + "-b");
  const RunSummary sa = run_training(c, rngfree::testing::quiet_run(a));
  RunOptions first = rngfree::testing::quiet_run(b);
  first.stop_after_epochs = 1;
  (void)run_training(c, first);
  if (interrupted) interrupted(b);
  const RunSummary sb = run_training(c, rngfree::testing::quiet_run(b, true));
  EXPECT_EQ(sa.val_loss, sb.val_loss);
  Trainer ta(c), tb(c);
  ta.load_checkpoint((a / "checkpoint.pt").string());
  tb.load_checkpoint((b / "checkpoint.pt").string());
  EXPECT_EQ(ta.parameter_hash(), tb.parameter_hash());
  return ta.parameter_hash();
}
}  // namespace

// Stochastic tensor sites resume bit-identically: their generator states are in the checkpoint.
TEST(LmRun, StochasticTensorSitesResumeBitIdentically) {
  const fs::path text = write_text("tensor-sites-resume", learnable_text(16));
  TrainConfig c = tiny_lm(text, "int8-dyn-sr-philox");
  c.steps = 7;  // epochs of 5 and 2 steps
  for (auto& s : c.quant.tensors) {
    s.format = "bf16";
    s.rounding = "stochastic:8";
    s.source = "xoshiro128pp";
  }
  (void)expect_resume_bit_identical(c, "tensor-sites");
}

// The prob tap of h{i}.pv (docs/lm.md) is the softmax of h{i}.qk's scores under the causal mask:
// recomputed here in double from the scores that qk's act tap reported (the mask written out as
// key j > query i), every masked entry is +0 exactly (half the matrix but the diagonal) and every
// other entry within 1e-6 relative; and the tap equals libtorch's FP32 softmax of the masked scores
// bit for bit. With pv's A site and quant.softmax on, the tap is still the unrounded FP32 tensor
// (not on the bf16 grid, and the softmax site's input bit for bit).
TEST(LmModel, ProbTapIsTheSoftmaxOfTheMaskedScores) {
  torch::manual_seed(13);
  Engine e;
  auto net = make_lm_model("gpt", 32, 2, 4, 16, e);
  QuantConfig q;
  q.sites[static_cast<int>(Site::kActivations)].format = "fixed:8:dyn";
  q.tensors[static_cast<int>(TensorSite::kSoftmax)].format = "bf16";
  e.configure(q, 1);
  std::vector<torch::Tensor> scores, probs, softmax_in;
  std::vector<std::string> prob_layers;
  e.callback = [&](const TapEvent& ev) {
    const torch::Tensor t =
        torch::from_blob(const_cast<float*>(ev.values.data()), {static_cast<int64_t>(ev.values.size())}, torch::kFloat32)
            .clone();
    if (ev.kind == harvest::TapKind::kProb) {
      probs.push_back(t);
      prob_layers.emplace_back(ev.layer_name);
    }
    if (ev.kind == harvest::TapKind::kAct && ev.layer_name.ends_with(".qk")) scores.push_back(t);
  };
  e.tensor_site_observer = [&](TensorSite s, const torch::Tensor& in, const torch::Tensor&) {
    if (s == TensorSite::kSoftmax) softmax_in.push_back(in.detach().contiguous().view(-1).clone());
  };
  const int64_t n = 3, h = 4, t = 16;
  (void)net->forward(torch::randint(0, 256, {n, t}, torch::kInt64));
  ASSERT_EQ(prob_layers, (std::vector<std::string>{"h0.pv", "h1.pv"}));
  ASSERT_EQ(scores.size(), 2U);
  ASSERT_EQ(softmax_in.size(), 2U);
  for (size_t b = 0; b < 2; ++b) {
    SCOPED_TRACE(prob_layers[b]);
    const torch::Tensor s = scores[b].view({n, h, t, t});
    const torch::Tensor p = probs[b].view({n, h, t, t});
    const torch::Tensor mask = torch::ones({t, t}).triu(1).to(torch::kBool);
    EXPECT_TRUE(bits_equal(p, torch::softmax(s.masked_fill(mask, -std::numeric_limits<float>::infinity()), -1)));
    const auto sa = s.accessor<float, 4>();
    const auto pa = p.accessor<float, 4>();
    int64_t zeros = 0, masked_nonzero = 0, off = 0;
    for (int64_t i0 = 0; i0 < n; ++i0) {
      for (int64_t i1 = 0; i1 < h; ++i1) {
        for (int64_t i = 0; i < t; ++i) {
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, static_cast<double>(sa[i0][i1][i][j]));
          for (int64_t j = 0; j <= i; ++j) sum += std::exp(static_cast<double>(sa[i0][i1][i][j]) - mx);
          for (int64_t j = 0; j < t; ++j) {
            const float v = pa[i0][i1][i][j];
            if (j > i) {
              masked_nonzero += std::bit_cast<uint32_t>(v) != 0;  // +0, not -0 or a tiny value
              zeros += v == 0.0f;
              continue;
            }
            const double want = std::exp(static_cast<double>(sa[i0][i1][i][j]) - mx) / sum;
            off += std::fabs(static_cast<double>(v) - want) > 1e-6 * want;
          }
        }
      }
    }
    EXPECT_EQ(masked_nonzero, 0);
    EXPECT_EQ(zeros, n * h * t * (t - 1) / 2);
    EXPECT_EQ(off, 0);
    EXPECT_FALSE(bits_equal(core_quantize(p, "bf16", "nearest-even"), p)) << "the tap must be the unrounded softmax";
    EXPECT_TRUE(bits_equal(softmax_in[b].view({n, h, t, t}), p));
  }
}

// Training cost is unchanged unless something reads prob: with the default pairing no layer stores
// it (the engine's record() returns before copying anything); a source that names it makes exactly
// that layer store it, every forward pass.
TEST(LmModel, ProbTapIsStoredOnlyWhenASourceReadsIt) {
  for (const bool reads : {false, true}) {
    SCOPED_TRACE(reads ? "E reads prob@last-4" : "default pairing");
    TrainConfig c;
    apply_task(c, "lm");
    apply_preset(c, "int8-dyn-sr-harvest");
    if (reads) c.quant.sites[static_cast<int>(Site::kErrors)].source = "harvest:act+prob@last-4";
    torch::manual_seed(3);
    Engine e;
    auto net = make_lm_model("gpt", 32, 1, 2, 16, e);  // 7 layers: h0.pv is layer 2 = last-4
    e.configure(c.quant, 1);
    (void)net->forward(torch::randint(0, 256, {2, 16}, torch::kInt64));
    for (const auto& l : e.layers) {
      const bool stored = l->taps[static_cast<int>(harvest::TapKind::kProb)].defined();
      EXPECT_EQ(stored, reads && l->index == 2) << l->name;
      EXPECT_EQ(l->has_prob, l->index == 2) << l->name;
    }
  }
}

// A run whose E, G and U sites XOR the probabilities into their default taps and whose W sites draw
// from them alone resumes bit-identically: the prob tap is in the checkpoint, and h0.qkv's W site,
// which rounds before h0.pv has run, reads the previous step's tensor from it in the first resumed
// step. The probabilities are consumed: the same run with the default sources ends elsewhere.
TEST(LmRun, HarvestFromProbResumesBitIdentically) {
  const fs::path text = write_text("prob-resume", learnable_text(16));
  auto with_prob = [&](bool prob) {
    TrainConfig c = tiny_lm(text, "int8-dyn-sr-harvest");
    c.steps = 7;  // epochs of 5 and 2 steps
    SiteConfig& w = c.quant.sites[static_cast<int>(Site::kWeights)];
    w.rounding = "stochastic:8";
    w.source = prob ? "harvest:prob@last-4" : "harvest";
    if (prob) {
      for (Site s : {Site::kErrors, Site::kGradients, Site::kUpdate}) {
        c.quant.sites[static_cast<int>(s)].source = "harvest:act+act@+1+err@+1+act@last-1+prob@last-4";
      }
    }
    return c;
  };
  const TrainConfig c = with_prob(true);
  bool stored = false;
  const uint64_t hash = expect_resume_bit_identical(c, "prob", [&](const fs::path& b) {
    torch::serialize::InputArchive ar;
    ar.load_from((b / "checkpoint.pt").string());
    torch::Tensor tap;
    stored = ar.try_read(fmt::format("tap.2.{}", static_cast<int>(harvest::TapKind::kProb)), tap);
    if (stored) {
      EXPECT_EQ(tap.numel(), c.batch * c.heads * c.context * c.context);
    }
  });
  EXPECT_TRUE(stored) << "the checkpoint has no prob tap of layer 2 (h0.pv)";
  const fs::path d = rngfree::testing::fresh_test_dir("lm", "prob-default");
  (void)run_training(with_prob(false), rngfree::testing::quiet_run(d));
  Trainer td(with_prob(false));
  td.load_checkpoint((d / "checkpoint.pt").string());
  EXPECT_NE(hash, td.parameter_hash());
}

// The dump reads prob too, at a layer that has it; elsewhere the refusal names dump.tap and
// dump.layer and lists the layers that have one.
TEST(LmConfig, DumpOfProbOnlyAtALayerWithIt) {
  const fs::path text = write_text("prob-dump", learnable_text(16));
  TrainConfig c = tiny_lm(text, "fp32");
  c.dump.path = (rngfree::testing::fresh_test_dir("lm", "prob-dump-out") / "prob.bin").string();
  c.dump.tap = "prob";
  c.dump.layer = 1;
  const std::string e = error_of([&] { Trainer t(c); });
  EXPECT_NE(e.find("dump.tap 'prob' (--dump-tap) at dump.layer 1 (h0.qk): that layer has no prob tap; layers with "
                   "one: 2 (h0.pv)"),
            std::string::npos)
      << e;
  c.dump.layer = 2;
  c.dump.max_bits = 1000;  // of 8 windows x 2 heads x 16 x 16 probabilities x 16 bits (8-23) in one step
  c.steps = 1;
  (void)run_training(c, rngfree::testing::quiet_run(rngfree::testing::fresh_test_dir("lm", "prob-dump-run")));
  EXPECT_EQ(fs::file_size(c.dump.path), 125U);
}
