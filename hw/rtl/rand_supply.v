// The random bits of an N-lane SR array (R bits per lane per cycle), supplied one of the ways the
// synthesis table compares (docs/hardware.md); lane j reads r[R*j +: R].
//   FEED 1 lfsr-lane     one lfsr:16 per lane (the library's lfsr:16:N bank), its low R bits
//   FEED 2 xoshiro-words ceil(N*R/32) xoshiro128++, each 32-bit word cut into 32/R lanes' bits
//                        (the cheapest generator that passes the project's audit; no bit reused)
//   FEED 3 lfsr64-shared one lfsr:64 for all lanes, lane j reads bits (j*R mod 64) .. : lanes share
//                        bits once N*R > 64 (the small shared LFSR of LFSR-based SR units)
//   FEED 4 philox-shared one unrolled Philox4x32-10 (128 bits a cycle), lane j reads bits (j*R mod 128)
//   FEED 5 harvest-raw   bits 8 .. 8+R-1 of a neighbouring FP32 datapath value (tap j): wires only
//   FEED 6 harvest-field bits 8-23 of tap j, mix field (training's default extractor), low R bits
//   FEED 7 harvest-sum3  bits 8-23 of three taps XORed, mix field (training's E, G, U sum before the fourth tap)
//   FEED 8 harvest-field8 bits 12-19 of tap j, mix field on those 8 bits (the field the atlas of
//                        docs/results.md finds passing in act taps; an 8-bit multiply instead of 16)
//   FEED 9 harvest-sum4  bits 8-23 of four taps XORed, mix field (training's default E, G, U:
//                        act ^ act@+1 ^ err@+1 ^ act@last-1, each read once)
// Generators reset to fixed nonzero seeds (a real array loads seeds; that costs more, not less).
module rand_supply #(
  parameter integer N = 16,
  parameter integer R = 8,
  parameter integer FEED = 1
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [32*N-1:0] tap0,   // harvest: a neighbouring value per lane (wires that exist anyway)
  input  wire [32*N-1:0] tap1,   // harvest-sum3: two more, harvest-sum4: three more
  input  wire [32*N-1:0] tap2,
  input  wire [32*N-1:0] tap3,
  output wire [R*N-1:0]  r
);
  genvar j;
  generate
    if (FEED == 1) begin : g_lfsr_lane
      for (j = 0; j < N; j = j + 1) begin : g_lane
        wire [15:0] state;
        lfsr_galois #(.W(16)) u_lfsr (.clk(clk), .load(rst), .seed(16'h1 + 16'h9e37 * j[15:0]), .en(1'b1),
          .state(state));
        assign r[R*j +: R] = state[R-1:0];
      end
    end else if (FEED == 2) begin : g_xoshiro_words
      localparam integer PER = 32 / R;                 // lanes per 32-bit word
      localparam integer GENS = (N + PER - 1) / PER;
      wire [32*GENS-1:0] words;
      for (j = 0; j < GENS; j = j + 1) begin : g_gen
        xoshiro128pp u_x (.clk(clk), .load(rst), .seed({32'h6a09e667 + j, 32'hbb67ae85, 32'h3c6ef372 ^ j, 32'ha54ff53a}),
          .en(1'b1), .word(words[32*j +: 32]));
      end
      for (j = 0; j < N; j = j + 1) begin : g_lane
        assign r[R*j +: R] = words[32*(j / PER) + R*(j % PER) +: R];
      end
    end else if (FEED == 3) begin : g_lfsr64_shared
      wire [63:0] state;
      lfsr_galois #(.W(64)) u_lfsr (.clk(clk), .load(rst), .seed(64'h9e3779b97f4a7c15), .en(1'b1), .state(state));
      wire [127:0] twice = {state, state};
      for (j = 0; j < N; j = j + 1) begin : g_lane
        assign r[R*j +: R] = twice[(R*j) % 64 +: R];
      end
    end else if (FEED == 4) begin : g_philox_shared
      wire [127:0] block;
      philox_unrolled u_p (.clk(clk), .load(rst), .key_seed(64'h0123456789abcdef), .counter_seed(128'd0),
        .en(1'b1), .block(block));
      wire [255:0] twice = {block, block};
      for (j = 0; j < N; j = j + 1) begin : g_lane
        assign r[R*j +: R] = twice[(R*j) % 128 +: R];
      end
    end else if (FEED == 5) begin : g_harvest_raw
      for (j = 0; j < N; j = j + 1) begin : g_lane
        assign r[R*j +: R] = tap0[32*j + 8 +: R];
      end
    end else if (FEED == 8) begin : g_harvest_field8
      for (j = 0; j < N; j = j + 1) begin : g_lane
        wire [7:0] word;
        harvest_extract #(.LO(12), .HI(19), .K(1), .MIX(1)) u_h (.taps(tap0[32*j +: 32]), .word(word));
        assign r[R*j +: R] = word[R-1:0];
      end
    end else begin : g_harvest_mixed   // 6: one tap, 7: three taps, 9: four taps
      for (j = 0; j < N; j = j + 1) begin : g_lane
        wire [15:0] word;
        if (FEED == 6) begin : g_one
          harvest_extract #(.LO(8), .HI(23), .K(1), .MIX(1)) u_h (.taps(tap0[32*j +: 32]), .word(word));
        end else if (FEED == 7) begin : g_three
          harvest_extract #(.LO(8), .HI(23), .K(3), .MIX(1)) u_h (
            .taps({tap2[32*j +: 32], tap1[32*j +: 32], tap0[32*j +: 32]}), .word(word));
        end else begin : g_four
          harvest_extract #(.LO(8), .HI(23), .K(4), .MIX(1)) u_h (
            .taps({tap3[32*j +: 32], tap2[32*j +: 32], tap1[32*j +: 32], tap0[32*j +: 32]}), .word(word));
        end
        assign r[R*j +: R] = word[R-1:0];
      end
    end
  endgenerate
endmodule
