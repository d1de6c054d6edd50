// igamc / igam after Cephes (S. L. Moshier), as used by NIST STS 2.1.2 (cephes.c), with its constants.
#include "rngfree/nist/special.hpp"

#include <cmath>

namespace rngfree::nist {
namespace {
constexpr double kMachEp = 1.11022302462515654042E-16;  // 2^-53
constexpr double kMaxLog = 7.09782712893383996732E2;    // log(DBL_MAX)
constexpr double kBig = 4.503599627370496e15;           // 2^52
constexpr double kBigInv = 2.22044604925031308085e-16;  // 2^-52
}  // namespace

double log_gamma(double x) {
  int sign = 0;
  return ::lgamma_r(x, &sign);
}

double igamc(double a, double x) {
  if (x <= 0 || a <= 0) return 1.0;
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
  do {
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
  if (x <= 0 || a <= 0) return 0.0;
  if (x > 1.0 && x > a) return 1.0 - igamc(a, x);
  double ax = a * std::log(x) - x - log_gamma(a);
  if (ax < -kMaxLog) return 0.0;
  ax = std::exp(ax);
  // Power series.
  double r = a, c = 1.0, ans = 1.0;
  do {
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
