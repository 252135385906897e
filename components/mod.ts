/** Imports every built-in component so that it registers itself. */
import "./backend/wasm.ts";
import "./backend/cpu.ts";
import "./backend/tensorflow.ts";
import "./backend/auto.ts";
import "./tokenizer/byte.ts";
import "./tokenizer/bpe.ts";
import "./dataset/brown.ts";
import "./dataset/text.ts";
import "./dataset/shards.ts";
import "./block/ngpt.ts";
import "./parameterization/ngpt.ts";
import "./optimizer/adam.ts";
import "./schedule/cosine.ts";
import "./stage/data.ts";
import "./stage/train.ts";
import "./stage/eval.ts";
