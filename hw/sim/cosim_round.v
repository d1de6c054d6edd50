// Co-simulation top for the rounding units, driven by tests/hw/round_cosim_test.cpp: every unit
// for R in {1, 2, 3, 8, 12, 16} (slots 0..5) and round-to-nearest-even (slot 6), all fed the same
// FP32 x and 32-bit random word r (each unit reads r's low R bits, as the library does).
module cosim_round (
  input  wire [31:0]       x,
  input  wire [31:0]       r,
  input  wire signed [9:0] step_exp,  // fixed:8:dyn's per-tensor step exponent
  output wire [7*8-1:0]    y_fixed,   // fixed:8:4 (step_exp tied to -4)
  output wire [6:0]        nan_fixed,
  output wire [7*8-1:0]    y_dyn,     // fixed:8:dyn
  output wire [6:0]        nan_dyn,
  output wire [7*16-1:0]   y_bf16,
  output wire [7*8-1:0]    y_e4m3,
  output wire [7*8-1:0]    y_e5m2
);
  function integer slot_r(input integer i);
    case (i)
      0: slot_r = 1; 1: slot_r = 2; 2: slot_r = 3; 3: slot_r = 8; 4: slot_r = 12; default: slot_r = 16;
    endcase
  endfunction
  genvar i;
  generate
    for (i = 0; i < 7; i = i + 1) begin : g_slot
      localparam integer RB = slot_r(i);
      localparam integer NE = i == 6 ? 1 : 0;
      sr_fixed #(.WL(8), .R(RB), .RNE(NE)) u_fixed (.x(x), .step_exp(-10'sd4), .r(r[RB-1:0]),
        .y(y_fixed[8*i +: 8]), .nan(nan_fixed[i]));
      sr_fixed #(.WL(8), .R(RB), .RNE(NE)) u_dyn (.x(x), .step_exp(step_exp), .r(r[RB-1:0]),
        .y(y_dyn[8*i +: 8]), .nan(nan_dyn[i]));
      sr_float #(.E(8), .M(7), .R(RB), .RNE(NE)) u_bf16 (.x(x), .r(r[RB-1:0]), .y(y_bf16[16*i +: 16]));
      sr_float #(.E(4), .M(3), .E4M3FN(1), .R(RB), .RNE(NE)) u_e4m3 (.x(x), .r(r[RB-1:0]), .y(y_e4m3[8*i +: 8]));
      sr_float #(.E(5), .M(2), .R(RB), .RNE(NE)) u_e5m2 (.x(x), .r(r[RB-1:0]), .y(y_e5m2[8*i +: 8]));
    end
  endgenerate
endmodule
