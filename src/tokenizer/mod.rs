//! BERT's WordPiece tokenizer, identical to Hugging Face's `BertTokenizerFast`.
