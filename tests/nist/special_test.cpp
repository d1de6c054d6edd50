// igamc/igam against independent closed forms: Q(1,x) = e^-x, Q(1/2,x) = erfc(sqrt x), integer a
// (Poisson sums, summed here in long double), half-integer a (erfc plus a finite sum), and the
// standard normal CDF against tabulated values; over a grid up to a = 1e10 (both the Cephes and the
// Temme path) against the Poisson sum P(Poisson(x) < a), and at a up to 1e30 against the normal limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "rngfree/nist/special.hpp"

namespace rngfree::nist {
namespace {

// Q(n, x) = e^-x sum_{k<n} x^k / k! for integer n, each term in log space, summed in long double.
double poisson_q(int n, double x) {
  long double sum = 0;
  for (int k = 0; k < n; ++k) sum += std::exp(static_cast<long double>(-x + k * std::log(x)) - std::lgamma(k + 1.0L));
  return static_cast<double>(sum);
}
// Q(j + 1/2, x) = erfc(sqrt x) + e^-x sum_{i<j} x^(i+1/2) / Gamma(i + 3/2).
double half_integer_q(int j, double x) {
  double sum = std::erfc(std::sqrt(x));
  for (int i = 0; i < j; ++i) sum += std::exp(-x + (i + 0.5) * std::log(x) - std::lgamma(i + 1.5));
  return sum;
}

TEST(NistSpecial, IgamcClosedForms) {
  for (double x : {1e-3, 0.3, 1.0, 2.5, 7.0, 30.0, 200.0}) {
    // Cephes forms exp(a log x - x - lgamma a): relative error grows like x * 2^-53.
    EXPECT_NEAR(igamc(1.0, x), std::exp(-x), (1e-14 + x * 2e-16) * std::exp(-x)) << x;
    EXPECT_NEAR(igamc(0.5, x), std::erfc(std::sqrt(x)), 1e-13 * std::erfc(std::sqrt(x)) + 1e-300) << x;
  }
  for (int n : {2, 3, 5, 10, 64, 200, 1000}) {
    for (double f : {0.3, 0.9, 1.0, 1.1, 2.0}) {
      const double x = f * n;
      const double q = poisson_q(n, x);
      if (q < 1e-250) continue;
      EXPECT_NEAR(igamc(n, x), q, 1e-11 * q) << "a=" << n << " x=" << x;
      EXPECT_NEAR(igam(n, x), 1.0 - q, 1e-11) << "a=" << n << " x=" << x;
    }
  }
  for (int j : {1, 2, 3, 4, 7, 20}) {  // a = 1.5 .. 20.5: the chi-square P-values with odd degrees of freedom
    for (double x : {0.2, 1.0, 3.3, 10.0, 25.0}) {
      const double q = half_integer_q(j, x);
      EXPECT_NEAR(igamc(j + 0.5, x), q, 1e-12 * q) << "a=" << j + 0.5 << " x=" << x;
    }
  }
  EXPECT_EQ(igamc(3.0, 0.0), 1.0);
  EXPECT_EQ(igamc(2.0, 1e6), 0.0);  // underflow, not NaN
}

// log(e^-x x^k / k!) in long double; for k >= 20 with Stirling's series for log k! and the large
// terms k log(x/k) - (x - k) combined through log1p, so nothing of size x cancels.
long double log_poisson_pmf(long double k, long double x) {
  if (k == 0) return -x;
  if (k < 20) return k * std::log(x) - x - std::lgamma(k + 1);
  const long double k2 = k * k;
  const long double stirling_tail =
      0.5L * std::log(2 * 3.14159265358979323846264338327950288L * k) + 1 / (12 * k) - 1 / (360 * k * k2) +
      1 / (1260 * k * k2 * k2);
  return k * std::log1p((x - k) / k) - (x - k) - stirling_tail;
}
// sum_{first <= k <= last} e^-x x^k / k! over the k within 60 sqrt(x) + 60 of x (the rest is below
// 1e-300 of the total), by the ratio recurrence from one term next to the mode, in long double.
// Q(n, x) = P(Poisson(x) < n) is the sum over k < n; P(n, x) = 1 - Q the sum over k >= n (summed
// directly, so a P near 0 keeps its digits).
double poisson_sum(double x, double first, double last) {
  const long double span = 60 * std::sqrt(static_cast<long double>(x)) + 60;
  const long double lo = std::max<long double>(first, std::floor(x - span));
  const long double hi = std::min<long double>(last, std::ceil(x + span));
  if (hi < lo) return 0.0;
  const long double start = std::clamp<long double>(std::floor(static_cast<long double>(x)), lo, hi);
  const long double t0 = std::exp(log_poisson_pmf(start, x));
  long double sum = t0, t = t0;
  for (long double k = start; k < hi; ++k) sum += (t *= x / (k + 1));
  t = t0;
  for (long double k = start; k > lo; --k) sum += (t *= k / x);
  return static_cast<double>(sum);
}

TEST(NistSpecial, IgamcMatchesPoissonSumsUpToLargeA) {
  // Cephes forms a log x - x - lgamma(a) in double: its result carries a relative error of about
  // 2^-53 (a |log x| + x); the Temme path (a > kAsymptoticA) has no such term.
  int checked = 0;
  for (double a : {1.0, 2.0, 7.0, 40.0, 1e3, 3e4, 1e6, kAsymptoticA, kAsymptoticA + 1, 1e8, 1e9, 1e10}) {
    for (double z : {-6.0, -3.0, -1.0, -0.3, 0.0, 0.3, 1.0, 3.0, 6.0}) {
      const double x = std::round(a + z * std::sqrt(a)) + 0.25;  // off the integers, as P-value arguments are
      if (x <= 0) continue;
      const double q = poisson_sum(x, 0, a - 1), p = poisson_sum(x, a, 1e300);
      if (q < 1e-250 || p < 1e-250) continue;
      const double cephes_error = 4e-16 * (a * std::fabs(std::log(x)) + x);
      const double tol = a > kAsymptoticA ? 1e-10 : 1e-12 + cephes_error;
      EXPECT_NEAR(igamc(a, x), q, tol * q) << "a=" << a << " x=" << x;
      // Each is computed from the other where that is the smaller: the larger one is exact to 2^-53.
      EXPECT_NEAR(igam(a, x), p, tol * p + 1.2e-16) << "a=" << a << " x=" << x;
      ++checked;
    }
  }
  EXPECT_GT(checked, 90);
}

TEST(NistSpecial, ExtremeArgumentsFinishAndMeetTheNormalLimit) {
  // Cephes' loops never end here (r + 1 == r once a > 2^53); Q(a, a + z sqrt a) -> erfc(z / sqrt 2) / 2
  // with an error of order 1/sqrt(a) (the skewness term), so within 1e-6 from a = 1e15 on.
  const auto t0 = std::chrono::steady_clock::now();
  for (double a : {1e15, 1e20, 1e30, 1e300}) {
    for (double z : {-4.0, -1.0, 0.0, 0.5, 2.0, 4.0}) {
      const double x = a + z * std::sqrt(a);
      const double z_exact = (x - a) / std::sqrt(a);  // z as x holds it (a + z sqrt a rounds; at 1e300 to a)
      const double expected = 0.5 * std::erfc(z_exact / std::sqrt(2.0));
      EXPECT_NEAR(igamc(a, x), expected, 1e-6) << "a=" << a << " z=" << z;
      EXPECT_NEAR(igam(a, x), 1.0 - expected, 1e-6) << "a=" << a << " z=" << z;
    }
    EXPECT_EQ(igamc(a, 0.5 * a), 1.0);  // 1 - (a value below 1e-300)
    EXPECT_EQ(igamc(a, 2.0 * a), 0.0);
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(igamc(nan, 1.0)));
  EXPECT_TRUE(std::isnan(igam(2.0, nan)));
  EXPECT_TRUE(std::isnan(igamc(inf, inf)));
  EXPECT_EQ(igamc(3.0, inf), 0.0);
  EXPECT_EQ(igam(3.0, inf), 1.0);
  EXPECT_EQ(igamc(inf, 5.0), 1.0);
  EXPECT_EQ(igam(inf, 5.0), 0.0);
  EXPECT_EQ(igam(-1.0, 5.0), 0.0);  // Cephes' convention for a <= 0
}

TEST(NistSpecial, NormalCdfTable) {
  EXPECT_DOUBLE_EQ(normal_cdf(0.0), 0.5);
  EXPECT_NEAR(normal_cdf(1.96), 0.97500210485177952, 1e-15);
  EXPECT_NEAR(normal_cdf(-1.0), 0.15865525393145705, 1e-15);
  EXPECT_NEAR(normal_cdf(3.0), 0.99865010196837, 1e-14);
}

}  // namespace
}  // namespace rngfree::nist
