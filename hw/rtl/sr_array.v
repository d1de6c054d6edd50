// N stochastic-rounding lanes, one FP32 value each per cycle: FMT 0 = fixed:8:4 (sr_fixed), 1 = bf16,
// 2 = e4m3, 3 = e5m2 (sr_float), R random bits each. FEED 0 takes the random bits from the port r
// (the rounding logic alone); FEED 1..9 from rand_supply (see there). Combinational lanes; the only
// state is the generators'.
module sr_array #(
  parameter integer N = 16,
  parameter integer FMT = 0,
  parameter integer R = 8,
  parameter integer FEED = 0,
  parameter integer RNE = 0,                 // 1: round to nearest even instead (FEED 0, r unused)
  parameter integer OW = FMT == 1 ? 16 : 8   // output bits per lane (derived; do not set)
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [32*N-1:0] x,
  input  wire [R*N-1:0]  r_in,   // FEED 0 only
  input  wire [32*N-1:0] tap0,   // FEED 5..9: neighbouring datapath values
  input  wire [32*N-1:0] tap1,
  input  wire [32*N-1:0] tap2,
  input  wire [32*N-1:0] tap3,
  output wire [OW*N-1:0] y
);
  wire [R*N-1:0] r;
  generate
    if (FEED == 0) begin : g_port
      assign r = r_in;
    end else begin : g_supply
      rand_supply #(.N(N), .R(R), .FEED(FEED)) u_supply (.clk(clk), .rst(rst), .tap0(tap0), .tap1(tap1),
        .tap2(tap2), .tap3(tap3), .r(r));
    end
  endgenerate
  genvar j;
  generate
    for (j = 0; j < N; j = j + 1) begin : g_lane
      if (FMT == 0) begin : g_fixed
        wire nan;
        sr_fixed #(.WL(8), .R(R), .RNE(RNE)) u (.x(x[32*j +: 32]), .step_exp(-10'sd4), .r(r[R*j +: R]), .y(y[OW*j +: OW]),
          .nan(nan));
      end else if (FMT == 1) begin : g_bf16
        sr_float #(.E(8), .M(7), .R(R), .RNE(RNE)) u (.x(x[32*j +: 32]), .r(r[R*j +: R]), .y(y[OW*j +: OW]));
      end else if (FMT == 2) begin : g_e4m3
        sr_float #(.E(4), .M(3), .E4M3FN(1), .R(R), .RNE(RNE)) u (.x(x[32*j +: 32]), .r(r[R*j +: R]), .y(y[OW*j +: OW]));
      end else begin : g_e5m2
        sr_float #(.E(5), .M(2), .R(R), .RNE(RNE)) u (.x(x[32*j +: 32]), .r(r[R*j +: R]), .y(y[OW*j +: OW]));
      end
    end
  endgenerate
endmodule
