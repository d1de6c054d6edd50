// Special functions for SP 800-22 P-values (section 5.5.3): the regularized incomplete gamma
// functions P(a,x) = igam and Q(a,x) = igamc, computed as the Cephes library does (power series for
// x < max(1, a), Legendre continued fraction otherwise), which is what NIST STS 2.1.2 uses; and the
// standard normal CDF as STS computes it (0.5 * (1 + erf(x / sqrt 2))). For a > kAsymptoticA, where
// Cephes' loops need O(sqrt a) iterations, Temme's uniform asymptotic expansion (DLMF 8.12) instead.
#pragma once

namespace rngfree::nist {

// Above this a, igamc/igam use Temme's expansion (relative error O(a^-2) of the correction term,
// below 1e-12 here); at or below it, Cephes' power series / continued fraction as in STS 2.1.2,
// which converge there in under 30,000 iterations. Every SP 800-22 P-value at STS's parameters
// (a <= 2^22 for m <= 23 in ApproximateEntropy and Serial) stays on the Cephes path.
inline constexpr double kAsymptoticA = 1e7;
// Iteration cap of the Cephes loops; exceeding it is a broken invariant (always-on check).
inline constexpr int kMaxIterations = 100000;

// Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0; returns 1 for x <= 0 or a <= 0 (as Cephes does),
// NaN for a NaN argument, 0 for x = +inf (finite a), 1 for a = +inf (finite x).
double igamc(double a, double x);
// P(a, x) = 1 - Q(a, x), with the same conventions (0 where igamc gives 1 and vice versa).
double igam(double a, double x);
// Standard normal cumulative distribution function, STS's cephes_normal.
double normal_cdf(double x);
// log Gamma(x) for x > 0 (thread-safe: lgamma_r, no global signgam).
double log_gamma(double x);

}  // namespace rngfree::nist
