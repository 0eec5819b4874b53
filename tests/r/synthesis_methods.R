#!/usr/bin/env Rscript
# Reference values for the methods the synthesis stage adds beside its inverse-variance pools, on small
# constructed data sets (tests/data/synthesis_methods/*.csv, written by hand; nothing from the Python code).
# Checked by tests/test_synthesis_methods.py, which feeds the same numbers through the pipeline
# (build_comparisons -> pool_comparisons -> small_study_table) and compares its rows with these.
#
#   events.csv       7 two-arm trials (a zero cell, a double-zero table, an all-events arm):
#                    mh/<measure>   rma.mh(measure = "RR" / "OR" / "RD")   (metafor defaults)
#                    peto           rma.peto()
#   subgroups.csv    8 two-arm trials in 3 subgroups (MD from arm means and SDs):
#                    subgroup/<test>   rma(yi, vi, mods = ~ factor(group), method = "REML", test)
#   small_study.csv  12 two-arm trials, smaller trials with larger effects (MD):
#                    regtest    regtest(rma(yi, vi))            (metafor default: model "rma", predictor "sei", REML, z)
#                    trimfill   trimfill(rma(yi, vi))           (L0, side chosen by metafor)
#
# Writes OUT_DIR/results.csv: case, quantity, value (all digits, %.17g). Default OUT_DIR: the data folder.
# Usage: Rscript tests/r/synthesis_methods.R [OUT_DIR]

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "tests/r"
data_dir <- normalizePath(file.path(here, "..", "data", "synthesis_methods"))
out_dir <- normalizePath(if (length(args) >= 1) args[1] else data_dir, mustWork = FALSE)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

full <- function(x) ifelse(is.na(x), NA, sprintf("%.17g", x))
rows <- list()
put <- function(case, ...) {
  q <- list(...)
  for (name in names(q)) {
    v <- q[[name]]
    if (length(v) > 1) {
      for (i in seq_along(v)) rows[[length(rows) + 1]] <<- c(case, paste0(name, ".", i), full(v[i]))
    } else {
      rows[[length(rows) + 1]] <<- c(case, name, if (is.character(v)) v else full(v))
    }
  }
}
read <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)

# ---- Mantel-Haenszel and Peto ------------------------------------------------------------------
ev <- read("events")
for (measure in c("RR", "OR", "RD")) {
  fit <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = ev, measure = measure)
  put(paste0("mh/", measure), estimate = as.numeric(fit$beta), se = fit$se, zval = fit$zval, pval = fit$pval,
      ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, Q = fit$QE, Q_p = fit$QEp, I2 = fit$I2, H2 = fit$H2, k = fit$k,
      Q_df = fit$k.yi - 1, weights = as.numeric(weights(fit)))
}
fit <- rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = ev)
put("peto", estimate = as.numeric(fit$beta), se = fit$se, zval = fit$zval, pval = fit$pval, ci_lb = fit$ci.lb,
    ci_ub = fit$ci.ub, Q = fit$QE, Q_p = fit$QEp, I2 = fit$I2, H2 = fit$H2, k = fit$k, Q_df = fit$k.yi - 1,
    weights = as.numeric(weights(fit)))

# ---- test for subgroup differences ---------------------------------------------------------------
sg <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = read("subgroups"))
for (test in c("z", "knha")) {
  fit <- rma(yi, vi, mods = ~ factor(group), data = sg, method = "REML", test = test)
  put(paste0("subgroup/", test), QM = fit$QM, QM_df = fit$QMdf[1], QM_p = fit$QMp)
}

# ---- regression test and trim-and-fill -----------------------------------------------------------
ss <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = read("small_study"))
res <- rma(yi, vi, data = ss)
rt <- regtest(res)
put("regtest", statistic = rt$zval, pval = rt$pval, limit_estimate = rt$est, limit_ci_lb = rt$ci.lb,
    limit_ci_ub = rt$ci.ub)
tf <- trimfill(res)
put("trimfill", k0 = tf$k0, side = tf$side, k0_se = tf$se.k0, estimate = as.numeric(tf$beta), se = tf$se,
    ci_lb = tf$ci.lb, ci_ub = tf$ci.ub, tau2 = tf$tau2)

out <- as.data.frame(do.call(rbind, rows), stringsAsFactors = FALSE)
names(out) <- c("case", "quantity", "value")
out <- rbind(out, data.frame(case = "meta", quantity = "metafor_version", value = as.character(packageVersion("metafor"))))
write.csv(out, file.path(out_dir, "results.csv"), row.names = FALSE)
