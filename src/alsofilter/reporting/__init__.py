"""Reporting: tables, figures, the leaderboard, the downstream table, galleries and the paper's
numbers. Figures are drawn without a display: the Agg backend is chosen here, before any module of
this package imports pyplot."""
import matplotlib

matplotlib.use("Agg")
