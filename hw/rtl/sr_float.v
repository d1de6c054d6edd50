// FP32 -> float:E:M (saturating, docs/formats.md "Float formats"; E4M3FN = 1 gives OCP e4m3) with
// stochastic rounding on R random bits (RNE = 0: the magnitude rounds away from zero iff f + r >= 2^R,
// f = the top R truncated bits below the quantum) or round-to-nearest-even (RNE = 1), exactly as
// rngfree::quantize. Combinational. y is the target encoding {sign, exponent, mantissa}; a NaN input
// gives the format's NaN (the quiet NaN, or S.1111.111 for e4m3), infinities saturate to +-max.
module sr_float #(
  parameter integer E = 8,       // exponent bits 2..8
  parameter integer M = 7,       // stored mantissa bits 1..23
  parameter integer E4M3FN = 0,  // 1: OCP E4M3FN (top exponent code finite, only S.1111.111 is NaN)
  parameter integer R = 8,       // random bits 1..16 (SR only)
  parameter integer RNE = 0      // 1: round to nearest even (r ignored)
) (
  input  wire [31:0]  x,
  input  wire [R-1:0] r,
  output wire [E+M:0] y
);
  localparam integer BT = (1 << (E - 1)) - 1;                       // target bias
  localparam integer EMAX_CODE = E4M3FN ? (1 << E) - 1 : (1 << E) - 2;  // largest finite exponent code
  localparam [E+M-1:0] MAX_MAG = E4M3FN ? {{(E + M - 1){1'b1}}, 1'b0}
                                        : {{(E - 1){1'b1}}, 1'b0, {M{1'b1}}};
  localparam [E+M-1:0] NAN_MAG = E4M3FN ? {(E + M){1'b1}} : {{E{1'b1}}, 1'b1, {(M - 1){1'b0}}};
  localparam integer FB = RNE ? 26 : R;   // bits kept below the quantum (RNE: guard + exact sticky)
  localparam integer SW = 24 + FB;        // shifter width: significand and those bits
  localparam integer BASE = 23 - M;       // shift of a target normal: FP32 keeps 23 - M more bits

  wire       sign = x[31];
  wire [7:0] eb = x[30:23];
  wire       is_nan = (eb == 8'hff) && (x[22:0] != 23'd0);
  wire       is_inf = (eb == 8'hff) && (x[22:0] == 23'd0);
  wire [23:0] sig = {eb != 8'd0, x[22:0]};   // |x| = sig * 2^(max(eb,1) - 150)
  wire [7:0] ebn = (eb == 8'd0) ? 8'd1 : eb;
  // Target biased exponent of |x| (an FP32 subnormal counts as exponent code 1 with sig < 2^23).
  wire signed [10:0] et = $signed({3'b000, ebn}) - 11'sd127 + BT;
  wire big = et > EMAX_CODE;                // |x| >= 2^(emax+1) > max

  wire [SW-1:0] shifted;
  generate
    if (E == 8) begin : g_same_range       // bf16, tf32: FP32's exponent range, a fixed cut
      assign shifted = {sig, {FB{1'b0}}} >> BASE;
    end else begin : g_rebias              // narrower range: target subnormals shift further
      wire [10:0] sh_full = (et >= 1) ? BASE : BASE + (11'sd1 - et);
      wire [5:0]  sh = (sh_full > SW) ? SW[5:0] : sh_full[5:0];
      assign shifted = {sig, {FB{1'b0}}} >> sh;
    end
  endgenerate
  wire [23:0]   kept = shifted[SW-1:FB];  // |x| / quantum, truncated (implicit bit at position M)
  wire [FB-1:0] frac = shifted[FB-1:0];   // the truncated fraction's top FB bits

  wire up;
  generate
    if (RNE) begin : g_rne
      assign up = frac[FB-1] & ((|frac[FB-2:0]) | kept[0]);
    end else begin : g_sr
      wire [R:0] sum = {1'b0, frac} + {1'b0, r};
      assign up = sum[R];                  // the carry of f + r: f + r >= 2^R
    end
  endgenerate

  // Encoding before rounding: the implicit bit of kept adds 1 to (et - 1), so one addition of `up`
  // carries into the exponent (and into the next binade, or past max) by itself.
  wire [E+M:0] et_ext = {{(M + 1){1'b0}}, et[E-1:0]};
  wire [E+M:0] ebase = (et >= 1) ? ((et_ext - 1'b1) << M) : {(E + M + 1){1'b0}};
  wire [E+M:0] enc = ebase + {{E{1'b0}}, kept[M:0]};
  wire [E+M:0] enc_r = enc + up;
  wire [E+M-1:0] mag = (big || is_inf || enc_r > {1'b0, MAX_MAG}) ? MAX_MAG : enc_r[E+M-1:0];
  assign y = is_nan ? {sign, NAN_MAG} : {sign, mag};
endmodule
