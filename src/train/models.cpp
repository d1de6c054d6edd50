// The models (models.hpp): mlp, lenet5, vgg7 (WAGE), resnet20 (He et al. 2016).
#include "rngfree/train/models.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "rngfree/error.hpp"

namespace rngfree::train {

namespace {

torch::Tensor maybe_round(Engine& e, const torch::Tensor& x) {
  return e.batchnorm_site.active ? quantize_op(x, nullptr, &e.batchnorm_site, nullptr, -1, -1) : x;
}

void record_input(Engine& e, const torch::Tensor& x) {
  if (!e.layers.empty()) e.record(*e.layers[0], harvest::TapKind::kInput, x);
}

class Mlp final : public Net {
 public:
  Mlp(Engine& e, int64_t in, int classes) : e_(e) {
    fc1_ = register_module("fc1", QLinear(in, 256, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(256, 256, &e.add_layer("fc2")));
    fc3_ = register_module("fc3", QLinear(256, classes, &e.add_layer("fc3")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = x.flatten(1);
    x = torch::relu(fc1_(x));
    x = torch::relu(fc2_(x));
    return fc3_(x);
  }

 private:
  Engine& e_;
  QLinear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28x28 inputs are padded by 2.
class Lenet5 final : public Net {
 public:
  Lenet5(Engine& e, int channels, int size, int classes) : e_(e) {
    const int pad = size == 28 ? 2 : 0;
    const int64_t s = ((size + 2 * pad - 4) / 2 - 4) / 2;
    conv1_ = register_module("conv1", QConv2d(channels, 6, 5, 1, pad, &e.add_layer("conv1")));
    conv2_ = register_module("conv2", QConv2d(6, 16, 5, 1, 0, &e.add_layer("conv2")));
    fc1_ = register_module("fc1", QLinear(16 * s * s, 120, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(120, 84, &e.add_layer("fc2")));
    fc3_ = register_module("fc3", QLinear(84, classes, &e.add_layer("fc3")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = torch::max_pool2d(torch::relu(conv1_(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2_(x)), 2);
    x = x.flatten(1);
    x = torch::relu(fc1_(x));
    x = torch::relu(fc2_(x));
    return fc3_(x);
  }

 private:
  Engine& e_;
  QConv2d conv1_{nullptr}, conv2_{nullptr};
  QLinear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// VGG-7 of WAGE (Wu et al. 2018): 2x(w C3) MP 2x(2w C3) MP 2x(4w C3) MP FC1024 FC, with BatchNorm.
class Vgg7 final : public Net {
 public:
  Vgg7(Engine& e, int channels, int size, int classes, int width) : e_(e) {
    const int64_t w[3] = {width, 2 * width, 4 * width};
    int64_t in = channels;
    for (int i = 0; i < 6; ++i) {
      std::string name = fmt::format("conv{}", i + 1);
      convs_.push_back(register_module(name, QConv2d(in, w[i / 2], 3, 1, 1, &e.add_layer(name), false)));
      bns_.push_back(register_module("bn" + std::to_string(i + 1), torch::nn::BatchNorm2d(w[i / 2])));
      in = w[i / 2];
    }
    const int64_t s = size / 8;
    fc1_ = register_module("fc1", QLinear(in * s * s, 1024, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(1024, classes, &e.add_layer("fc2")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    for (size_t i = 0; i < convs_.size(); ++i) {
      x = torch::relu(maybe_round(e_, bns_[i](convs_[i](x))));
      if (i % 2 == 1) x = torch::max_pool2d(x, 2);
    }
    x = torch::relu(fc1_(x.flatten(1)));
    return fc2_(x);
  }

 private:
  Engine& e_;
  std::vector<QConv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;
  QLinear fc1_{nullptr}, fc2_{nullptr};
};

// ResNet-20 for CIFAR (He et al. 2016, section 4.2); projection shortcuts (1x1 conv + BN) where
// the shape changes (option B).
class ResNet20 final : public Net {
  struct Block {
    QConv2d conv1{nullptr}, conv2{nullptr}, proj{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bnp{nullptr};
  };

 public:
  ResNet20(Engine& e, int channels, int classes) : e_(e) {
    conv1_ = register_module("conv1", QConv2d(channels, 16, 3, 1, 1, &e.add_layer("conv1"), false));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(16));
    int64_t in = 16;
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t out = 16 << stage;
      for (int b = 0; b < 3; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        const std::string p = fmt::format("s{}b{}", stage + 1, b + 1);
        Block blk;
        blk.conv1 = register_module(p + "_conv1", QConv2d(in, out, 3, stride, 1, &e.add_layer(p + ".conv1"), false));
        blk.bn1 = register_module(p + "_bn1", torch::nn::BatchNorm2d(out));
        blk.conv2 = register_module(p + "_conv2", QConv2d(out, out, 3, 1, 1, &e.add_layer(p + ".conv2"), false));
        blk.bn2 = register_module(p + "_bn2", torch::nn::BatchNorm2d(out));
        if (stride != 1 || in != out) {
          blk.proj = register_module(p + "_proj", QConv2d(in, out, 1, stride, 0, &e.add_layer(p + ".proj"), false));
          blk.bnp = register_module(p + "_bnp", torch::nn::BatchNorm2d(out));
        }
        blocks_.push_back(blk);
        in = out;
      }
    }
    fc_ = register_module("fc", QLinear(64, classes, &e.add_layer("fc")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = torch::relu(maybe_round(e_, bn1_(conv1_(x))));
    for (auto& b : blocks_) {
      torch::Tensor y = torch::relu(maybe_round(e_, b.bn1(b.conv1(x))));
      y = maybe_round(e_, b.bn2(b.conv2(y)));
      torch::Tensor shortcut = b.proj ? maybe_round(e_, b.bnp(b.proj(x))) : x;
      x = torch::relu(y + shortcut);
    }
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_(x);
  }

 private:
  Engine& e_;
  QConv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<Block> blocks_;
  QLinear fc_{nullptr};
};

// ESPCN (Shi et al. 2016) with ReLU and one more 3×3 layer, predicting the residual to the bicubic
// upscale (residual learning as VDSR, Kim et al. 2016): the sub-pixel convolution works at LR
// resolution, so a step costs scale² times less than a network working on the upscaled image.
class Espcn final : public Net {
 public:
  Espcn(Engine& e, int width, int scale) : e_(e), scale_(scale) {
    const int64_t w = width, h = std::max(width / 2, 1);
    conv1_ = register_module("conv1", QConv2d(1, w, 5, 1, 2, &e.add_layer("conv1")));
    conv2_ = register_module("conv2", QConv2d(w, w, 3, 1, 1, &e.add_layer("conv2")));
    conv3_ = register_module("conv3", QConv2d(w, h, 3, 1, 1, &e.add_layer("conv3")));
    conv4_ = register_module("conv4", QConv2d(h, int64_t{scale} * scale, 3, 1, 1, &e.add_layer("conv4")));
    // He initialisation (He et al. 2015) keeps the activations' scale through the ReLUs; PyTorch's
    // default (kaiming_uniform, a = sqrt(5)) shrinks it about 2.4x per layer, and the residual
    // network then learned to output zero (measured: it settles at exactly bicubic's PSNR). The last
    // layer starts 10x smaller, so the first output is close to the bicubic upscale.
    torch::NoGradGuard guard;
    for (QConv2d* c : {&conv1_, &conv2_, &conv3_, &conv4_}) {
      torch::nn::init::kaiming_normal_((*c)->weight, 0, torch::kFanIn, torch::kReLU);
      (*c)->bias.zero_();
    }
    conv4_->weight.mul_(0.1);
  }
  // x (N, 1, h, w) LR luma centred on 0 -> (N, 1, h·s, w·s) residual
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = torch::relu(conv1_(x));
    x = torch::relu(conv2_(x));
    x = torch::relu(conv3_(x));
    return torch::pixel_shuffle(conv4_(x), scale_);
  }

 private:
  Engine& e_;
  int scale_;
  QConv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr};
};

}  // namespace

std::shared_ptr<Net> make_sr_model(const std::string& name, int width, int scale, Engine& engine) {
  RNGFREE_CHECK(engine.layers.empty(), "make_sr_model needs a fresh engine");
  if (scale < 2 || scale > 4) throw Error(fmt::format("scale {}: allowed 2, 3, 4", scale));
  if (name == "espcn") return std::make_shared<Espcn>(engine, width > 0 ? width : 32, scale);
  throw Error(fmt::format("model '{}': not a super-resolution model; allowed: espcn", name));
}

std::shared_ptr<Net> make_model(const std::string& name, int width, int channels, int image_size, int num_classes,
                                Engine& engine) {
  RNGFREE_CHECK(engine.layers.empty(), "make_model needs a fresh engine");
  if (name == "mlp") return std::make_shared<Mlp>(engine, int64_t{channels} * image_size * image_size, num_classes);
  if (name == "lenet5") {
    if (image_size < 28) throw Error(fmt::format("model lenet5: images of {}x{} are too small (allowed >= 28)", image_size, image_size));
    return std::make_shared<Lenet5>(engine, channels, image_size, num_classes);
  }
  if (name == "vgg7") {
    if (image_size < 8) throw Error(fmt::format("model vgg7: images of {}x{} are too small (allowed >= 8)", image_size, image_size));
    return std::make_shared<Vgg7>(engine, channels, image_size, num_classes, width > 0 ? width : 128);
  }
  if (name == "resnet20") return std::make_shared<ResNet20>(engine, channels, num_classes);
  throw Error(fmt::format("model '{}': unknown; allowed: mlp, lenet5, vgg7, resnet20", name));
}

}  // namespace rngfree::train
