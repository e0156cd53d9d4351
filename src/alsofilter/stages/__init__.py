"""The pipeline's stages: one module per rule file of ``workflow/rules/``, holding the file-in /
file-out adapters and one ``rule_<name>(snakemake)`` entry per rule that the thin scripts call."""
