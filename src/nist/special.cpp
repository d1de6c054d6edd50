// igamc / igam after Cephes (S. L. Moshier), as used by NIST STS 2.1.2 (cephes.c), with its constants,
// for a <= kAsymptoticA; above it Temme's uniform asymptotic expansion (DLMF 8.12.3-8.12.8), where the
// Cephes loops would need O(sqrt a) iterations (and never end once r + 1 == r in double). Both loops
// are capped at kMaxIterations; below kAsymptoticA they converge well within it (an always-on check).
#include "rngfree/nist/special.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "rngfree/error.hpp"

namespace rngfree::nist {
namespace {
constexpr double kMachEp = 1.11022302462515654042E-16;  // 2^-53
constexpr double kMaxLog = 7.09782712893383996732E2;    // log(DBL_MAX)
constexpr double kBig = 4.503599627370496e15;           // 2^52
constexpr double kBigInv = 2.22044604925031308085e-16;  // 2^-52

// log(1 + d) - d, without the cancellation of the direct form for small |d|.
double log1p_minus(double d) {
  if (std::fabs(d) > 0.01) return std::log1p(d) - d;
  double term = -d * d / 2, sum = term;  // -d^2/2 + d^3/3 - d^4/4 + ...
  for (int k = 3; k <= 12; ++k) {
    term *= -d * (k - 1) / k;
    sum += term;
  }
  return sum;
}

// Temme's uniform expansion, DLMF 8.12: Q(a, x) = erfc(eta sqrt(a/2)) / 2 + R, P = erfc(-eta sqrt(a/2)) / 2 - R,
// R = exp(-a eta^2 / 2) / sqrt(2 pi a) (c0(eta) + c1(eta) / a), lambda = x / a,
// eta = sign(lambda - 1) sqrt(2 (lambda - 1 - ln lambda)); the next term is O(a^-2) relative to R.
double temme(double a, double x, bool upper) {
  const double d = (x - a) / a;  // lambda - 1
  const double eta = std::copysign(std::sqrt(-2.0 * log1p_minus(d)), d);
  double c0 = 0, c1 = 0;
  if (std::fabs(d) < 0.01) {  // DLMF 8.12.8: the closed forms cancel near lambda = 1
    c0 = -1.0 / 3 + eta / 12 - 2 * eta * eta / 135 + eta * eta * eta / 864;
    c1 = -1.0 / 540 - eta / 288;
  } else {  // DLMF 8.12.5
    c0 = 1 / d - 1 / eta;
    c1 = 1 / (eta * eta * eta) - 1 / (d * d * d) - 1 / (d * d) - 1 / (12 * d);
  }
  const double r = std::exp(-0.5 * a * eta * eta) / std::sqrt(2 * std::numbers::pi * a) * (c0 + c1 / a);
  const double z = eta * std::sqrt(a / 2);
  return upper ? 0.5 * std::erfc(z) + r : 0.5 * std::erfc(-z) - r;
}

// Special cases shared by igamc and igam: non-finite arguments and the large-a regime. Returns true
// with `out` set when one applies.
bool special_case(double a, double x, bool upper, double& out) {
  if (std::isnan(a) || std::isnan(x)) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (x <= 0 || a <= 0) {  // Cephes' convention
    out = upper ? 1.0 : 0.0;
    return true;
  }
  if (std::isinf(a) && std::isinf(x)) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (std::isinf(a)) {  // Q(inf, x) = 1
    out = upper ? 1.0 : 0.0;
    return true;
  }
  if (std::isinf(x)) {  // Q(a, inf) = 0
    out = upper ? 0.0 : 1.0;
    return true;
  }
  if (a > kAsymptoticA) {
    out = temme(a, x, upper);
    return true;
  }
  return false;
}
}  // namespace

double log_gamma(double x) {
  int sign = 0;
  return ::lgamma_r(x, &sign);
}

double igamc(double a, double x) {
  double special = 0;
  if (special_case(a, x, true, special)) return special;
  if (x < 1.0 || x < a) return 1.0 - igam(a, x);
  double ax = a * std::log(x) - x - log_gamma(a);
  if (ax < -kMaxLog) return 0.0;  // underflow: Q is below the smallest double
  ax = std::exp(ax);
  // Continued fraction.
  double y = 1.0 - a;
  double z = x + y + 1.0;
  double c = 0.0;
  double pkm2 = 1.0, qkm2 = x, pkm1 = x + 1.0, qkm1 = z * x;
  double ans = pkm1 / qkm1;
  double t = 0;
  int iterations = 0;
  do {
    RNGFREE_CHECK(++iterations <= kMaxIterations, "igamc continued fraction did not converge");
    c += 1.0;
    y += 1.0;
    z += 2.0;
    const double yc = y * c;
    const double pk = pkm1 * z - pkm2 * yc;
    const double qk = qkm1 * z - qkm2 * yc;
    if (qk != 0) {
      const double r = pk / qk;
      t = std::fabs((ans - r) / r);
      ans = r;
    } else {
      t = 1.0;
    }
    pkm2 = pkm1;
    pkm1 = pk;
    qkm2 = qkm1;
    qkm1 = qk;
    if (std::fabs(pk) > kBig) {
      pkm2 *= kBigInv;
      pkm1 *= kBigInv;
      qkm2 *= kBigInv;
      qkm1 *= kBigInv;
    }
  } while (t > kMachEp);
  return ans * ax;
}

double igam(double a, double x) {
  double special = 0;
  if (special_case(a, x, false, special)) return special;
  if (x > 1.0 && x > a) return 1.0 - igamc(a, x);
  double ax = a * std::log(x) - x - log_gamma(a);
  if (ax < -kMaxLog) return 0.0;
  ax = std::exp(ax);
  // Power series.
  double r = a, c = 1.0, ans = 1.0;
  int iterations = 0;
  do {
    RNGFREE_CHECK(++iterations <= kMaxIterations, "igam power series did not converge");
    r += 1.0;
    c *= x / r;
    ans += c;
  } while (c / ans > kMachEp);
  return ans * ax / a;
}

double normal_cdf(double x) {
  constexpr double kSqrt2 = 1.414213562373095048801688724209698078569672;
  if (x > 0) return 0.5 * (1 + std::erf(x / kSqrt2));
  return 0.5 * (1 - std::erf(-x / kSqrt2));
}

}  // namespace rngfree::nist
