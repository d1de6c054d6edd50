// Maximal-length Galois LFSR of W = 3..64 bits, the library's lfsr:W (docs/random.md "LFSR taps and
// words"): s <= (s >> 1) ^ (s[0] ? mask : 0), mask bit t-1 set for each tap t of Xilinx XAPP052
// table 3 (the taps of src/random/generators.cpp). After load and k steps, `state` is the k-th word
// of the stream (word = the low 32 bits of the state). Nothing but W flip-flops and the tap XORs.
module lfsr_galois #(
  parameter integer W = 16
) (
  input  wire         clk,
  input  wire         load,  // state <= seed (a nonzero W-bit value; the library seeds with SplitMix64)
  input  wire [W-1:0] seed,
  input  wire         en,    // one step
  output reg  [W-1:0] state
);
  function [63:0] lfsr_mask(input integer w);
    case (w)
      3: lfsr_mask = 64'h0000000000000006;  // taps 3, 2
      4: lfsr_mask = 64'h000000000000000c;  // taps 4, 3
      5: lfsr_mask = 64'h0000000000000014;  // taps 5, 3
      6: lfsr_mask = 64'h0000000000000030;  // taps 6, 5
      7: lfsr_mask = 64'h0000000000000060;  // taps 7, 6
      8: lfsr_mask = 64'h00000000000000b8;  // taps 8, 6, 5, 4
      9: lfsr_mask = 64'h0000000000000110;  // taps 9, 5
      10: lfsr_mask = 64'h0000000000000240;  // taps 10, 7
      11: lfsr_mask = 64'h0000000000000500;  // taps 11, 9
      12: lfsr_mask = 64'h0000000000000829;  // taps 12, 6, 4, 1
      13: lfsr_mask = 64'h000000000000100d;  // taps 13, 4, 3, 1
      14: lfsr_mask = 64'h0000000000002015;  // taps 14, 5, 3, 1
      15: lfsr_mask = 64'h0000000000006000;  // taps 15, 14
      16: lfsr_mask = 64'h000000000000d008;  // taps 16, 15, 13, 4
      17: lfsr_mask = 64'h0000000000012000;  // taps 17, 14
      18: lfsr_mask = 64'h0000000000020400;  // taps 18, 11
      19: lfsr_mask = 64'h0000000000040023;  // taps 19, 6, 2, 1
      20: lfsr_mask = 64'h0000000000090000;  // taps 20, 17
      21: lfsr_mask = 64'h0000000000140000;  // taps 21, 19
      22: lfsr_mask = 64'h0000000000300000;  // taps 22, 21
      23: lfsr_mask = 64'h0000000000420000;  // taps 23, 18
      24: lfsr_mask = 64'h0000000000e10000;  // taps 24, 23, 22, 17
      25: lfsr_mask = 64'h0000000001200000;  // taps 25, 22
      26: lfsr_mask = 64'h0000000002000023;  // taps 26, 6, 2, 1
      27: lfsr_mask = 64'h0000000004000013;  // taps 27, 5, 2, 1
      28: lfsr_mask = 64'h0000000009000000;  // taps 28, 25
      29: lfsr_mask = 64'h0000000014000000;  // taps 29, 27
      30: lfsr_mask = 64'h0000000020000029;  // taps 30, 6, 4, 1
      31: lfsr_mask = 64'h0000000048000000;  // taps 31, 28
      32: lfsr_mask = 64'h0000000080200003;  // taps 32, 22, 2, 1
      33: lfsr_mask = 64'h0000000100080000;  // taps 33, 20
      34: lfsr_mask = 64'h0000000204000003;  // taps 34, 27, 2, 1
      35: lfsr_mask = 64'h0000000500000000;  // taps 35, 33
      36: lfsr_mask = 64'h0000000801000000;  // taps 36, 25
      37: lfsr_mask = 64'h000000100000001f;  // taps 37, 5, 4, 3, 2, 1
      38: lfsr_mask = 64'h0000002000000031;  // taps 38, 6, 5, 1
      39: lfsr_mask = 64'h0000004400000000;  // taps 39, 35
      40: lfsr_mask = 64'h000000a000140000;  // taps 40, 38, 21, 19
      41: lfsr_mask = 64'h0000012000000000;  // taps 41, 38
      42: lfsr_mask = 64'h00000300000c0000;  // taps 42, 41, 20, 19
      43: lfsr_mask = 64'h0000063000000000;  // taps 43, 42, 38, 37
      44: lfsr_mask = 64'h00000c0000030000;  // taps 44, 43, 18, 17
      45: lfsr_mask = 64'h00001b0000000000;  // taps 45, 44, 42, 41
      46: lfsr_mask = 64'h0000300003000000;  // taps 46, 45, 26, 25
      47: lfsr_mask = 64'h0000420000000000;  // taps 47, 42
      48: lfsr_mask = 64'h0000c00000180000;  // taps 48, 47, 21, 20
      49: lfsr_mask = 64'h0001008000000000;  // taps 49, 40
      50: lfsr_mask = 64'h0003000000c00000;  // taps 50, 49, 24, 23
      51: lfsr_mask = 64'h0006000c00000000;  // taps 51, 50, 36, 35
      52: lfsr_mask = 64'h0009000000000000;  // taps 52, 49
      53: lfsr_mask = 64'h0018003000000000;  // taps 53, 52, 38, 37
      54: lfsr_mask = 64'h0030000000030000;  // taps 54, 53, 18, 17
      55: lfsr_mask = 64'h0040000040000000;  // taps 55, 31
      56: lfsr_mask = 64'h00c0000600000000;  // taps 56, 55, 35, 34
      57: lfsr_mask = 64'h0102000000000000;  // taps 57, 50
      58: lfsr_mask = 64'h0200004000000000;  // taps 58, 39
      59: lfsr_mask = 64'h0600003000000000;  // taps 59, 58, 38, 37
      60: lfsr_mask = 64'h0c00000000000000;  // taps 60, 59
      61: lfsr_mask = 64'h1800300000000000;  // taps 61, 60, 46, 45
      62: lfsr_mask = 64'h3000000000000030;  // taps 62, 61, 6, 5
      63: lfsr_mask = 64'h6000000000000000;  // taps 63, 62
      64: lfsr_mask = 64'hd800000000000000;  // taps 64, 63, 61, 60
      default: lfsr_mask = 64'h0;
    endcase
  endfunction
  localparam [63:0] MASK = lfsr_mask(W);

  always @(posedge clk)
    if (load) state <= seed;
    else if (en) state <= (state >> 1) ^ ({W{state[0]}} & MASK[W-1:0]);
endmodule
