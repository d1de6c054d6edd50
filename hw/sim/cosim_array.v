// Co-simulation top for whole arrays, driven by tests/hw/array_cosim_test.cpp: 16 SR lanes fed by
// harvested bits from neighbouring datapath values, as the library's fused harvest + quantize does.
//   y_bf16:  bf16, stochastic:8, each lane's bits from tap0 (bits 8-23, mix field)
//   y_fixed: fixed:8:4, stochastic:8, each lane's bits from tap0 ^ tap1 ^ tap2 ^ tap3 (bits 8-23, mix
//            field: training's four-tap default)
module cosim_array (
  input  wire          clk,
  input  wire          rst,
  input  wire [511:0]  x,
  input  wire [511:0]  tap0,
  input  wire [511:0]  tap1,
  input  wire [511:0]  tap2,
  input  wire [511:0]  tap3,
  output wire [255:0]  y_bf16,
  output wire [127:0]  y_fixed
);
  sr_array #(.N(16), .FMT(1), .R(8), .FEED(6)) u_bf16 (.clk(clk), .rst(rst), .x(x), .r_in(128'd0),
    .tap0(tap0), .tap1(tap1), .tap2(tap2), .tap3(tap3), .y(y_bf16));
  sr_array #(.N(16), .FMT(0), .R(8), .FEED(9)) u_fixed (.clk(clk), .rst(rst), .x(x), .r_in(128'd0),
    .tap0(tap0), .tap1(tap1), .tap2(tap2), .tap3(tap3), .y(y_fixed));
endmodule
