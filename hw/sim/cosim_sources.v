// Co-simulation top for the random sources, driven by tests/hw/source_cosim_test.cpp: the Galois LFSR
// for every width W = 3..64 (slot W-3 of lfsr_state, each loaded with the low W bits of lfsr_seed),
// xorshift32, xoshiro128++, and Philox4x32-10 unrolled and round-serial. All step on clk while en.
module cosim_sources (
  input  wire           clk,
  input  wire           load,
  input  wire           en,
  input  wire [63:0]    lfsr_seed,
  input  wire [31:0]    xorshift_seed,
  input  wire [127:0]   xoshiro_seed,
  input  wire [63:0]    philox_key,
  input  wire [127:0]   philox_counter,
  output wire [62*64-1:0] lfsr_state,
  output wire [31:0]    xorshift_word,
  output wire [31:0]    xoshiro_word,
  output wire [127:0]   philox_block,
  output wire [127:0]   philox_serial_block,
  output wire           philox_serial_valid
);
  genvar w;
  generate
    for (w = 3; w <= 64; w = w + 1) begin : g_lfsr
      wire [w-1:0] state;
      lfsr_galois #(.W(w)) u_lfsr (.clk(clk), .load(load), .seed(lfsr_seed[w-1:0]), .en(en), .state(state));
      assign lfsr_state[64*(w-3) +: 64] = {{(64 - w){1'b0}}, state};
    end
  endgenerate
  xorshift32 u_xorshift (.clk(clk), .load(load), .seed(xorshift_seed), .en(en), .state(xorshift_word));
  xoshiro128pp u_xoshiro (.clk(clk), .load(load), .seed(xoshiro_seed), .en(en), .word(xoshiro_word));
  philox_unrolled u_philox (.clk(clk), .load(load), .key_seed(philox_key), .counter_seed(philox_counter),
    .en(en), .block(philox_block));
  philox_serial u_philox_serial (.clk(clk), .load(load), .key_seed(philox_key), .counter_seed(philox_counter),
    .block(philox_serial_block), .valid(philox_serial_valid));
endmodule
