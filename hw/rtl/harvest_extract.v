// The harvest extractor (docs/random.md "Extractor"), the library's harvest_words for a folded:K
// pairing: the bit field LO..HI of each of K FP32 tap elements (wires), XOR-folded (K-1 XORs per bit),
// then the mix: MIX = 0 "none" (nothing), MIX = 1 "field" — mix_field on width = HI-LO+1 bits:
// w ^= c0; w ^= w >> ceil(width/2); w *= 0x7feb352d (mod 2^width); w ^= w >> max(1, floor(width/2)).
// The multiply is by a constant: shifts and adds, no multiplier.
module harvest_extract #(
  parameter integer LO = 8,
  parameter integer HI = 23,
  parameter integer K = 1,     // elements folded into one word
  parameter integer MIX = 1    // 0: none, 1: field
) (
  input  wire [32*K-1:0]  taps,   // element j in bits 32j+31 .. 32j
  output wire [HI-LO:0]   word
);
  localparam integer WID = HI - LO + 1;
  localparam [31:0] MASK = WID >= 32 ? 32'hffffffff : (32'd1 << WID) - 32'd1;
  localparam [31:0] C0 = 32'h9e3779b9 & MASK;
  localparam [31:0] C1 = 32'h7feb352d & MASK;
  localparam integer S1 = (WID + 1) / 2;
  localparam integer S2 = WID / 2 < 1 ? 1 : WID / 2;

  reg [WID-1:0] folded;
  integer j;
  always @* begin
    folded = {WID{1'b0}};
    for (j = 0; j < K; j = j + 1) folded = folded ^ taps[32*j+LO +: WID];
  end
  generate
    if (MIX == 1) begin : g_field
      wire [WID-1:0] a = folded ^ C0[WID-1:0];
      wire [WID-1:0] b = a ^ (a >> S1);
      wire [WID-1:0] c = b * C1[WID-1:0];
      assign word = c ^ (c >> S2);
    end else begin : g_none
      assign word = folded;
    end
  endgenerate
endmodule
