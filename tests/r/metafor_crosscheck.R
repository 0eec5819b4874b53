#!/usr/bin/env Rscript
# Cross-check of livertrials.synthesis against R metafor.
#
# Reads the project's own study effects (tests/r/effects_fixture.csv, exported from the shipped
# corpus's comparisons.parquet by tests/r/make_effects_fixture.py) and writes what metafor gives:
#
#   metafor_results.csv  one row per group x method (EE, DL, REML, PM) x test (z, knha):
#                        rma() estimate, se, z/t, p, CI, prediction interval (predict), tau2 and its
#                        Q-profile CI (confint), I2, H2 (and their CIs), Q
#   metafor_escalc.csv   one row per study effect: yi and vi recomputed with escalc() from the
#                        arm summaries (MD, SMD, RR, OR, RD, MC); reported effects are skipped
#
# Usage: Rscript tests/r/metafor_crosscheck.R [fixture.csv] [results.csv] [escalc.csv]
# Defaults are the files beside this script. Settings are metafor's defaults (REML threshold 1e-5,
# escalc add = 1/2, to = "only0", vtype = "LS") except that uniroot() for PM and for the Q-profile
# CI is run to tol = 1e-12 (metafor's default tol ~1.2e-4 would limit agreement to ~1e-4).

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "tests/r"
fixture_path <- if (length(args) >= 1) args[1] else file.path(here, "effects_fixture.csv")
results_path <- if (length(args) >= 2) args[2] else file.path(here, "metafor_results.csv")
escalc_path <- if (length(args) >= 3) args[3] else file.path(here, "metafor_escalc.csv")

fx <- read.csv(fixture_path, stringsAsFactors = FALSE)
full <- function(x) ifelse(is.na(x), NA, sprintf("%.17g", x))   # keep every digit in the CSV
as_text <- function(df) { for (n in names(df)) if (is.numeric(df[[n]])) df[[n]] <- full(df[[n]]); df }

# ---- 1. effect sizes from the arm summaries -------------------------------------------------
one_effect <- function(r) {
  m <- r$measure
  es <- if (m %in% c("MD", "SMD")) {
    escalc(measure = m, m1i = r$mean_1, sd1i = r$sd_1, n1i = r$n_1, m2i = r$mean_2, sd2i = r$sd_2, n2i = r$n_2)
  } else if (m %in% c("RR", "OR", "RD")) {
    escalc(measure = m, ai = r$events_1, n1i = r$total_1, ci = r$events_2, n2i = r$total_2)
  } else if (m == "MC") {
    # side 1 = follow-up, side 2 = baseline of the same (combined) arms
    escalc(measure = "MC", m1i = r$mean_1, m2i = r$mean_2, sd1i = r$sd_1, sd2i = r$sd_2, ni = r$n_1,
           ri = r$pre_post_correlation)
  } else NULL
  if (is.null(es)) return(NULL)
  data.frame(comparison_id = r$comparison_id, measure = m, yi = as.numeric(es$yi), vi = as.numeric(es$vi))
}
arm_rows <- fx[fx$source == "arm_data" & !duplicated(fx$comparison_id), ]
escalc_out <- do.call(rbind, lapply(seq_len(nrow(arm_rows)), function(i) one_effect(arm_rows[i, ])))
write.csv(as_text(escalc_out), escalc_path, row.names = FALSE)

# ---- 2. pooled estimates -------------------------------------------------------------------
exact <- list(tol = 1e-12, tau2.max = 1e8, maxiter = 10000)
one_fit <- function(g, method, test) {
  ctrl <- if (method == "PM") exact else list()
  fit <- suppressWarnings(rma(yi, vi, data = g, method = method, test = test, control = ctrl))
  pr <- predict(fit)
  re <- method != "EE"
  qp <- if (re) confint(fit, control = exact)$random else NULL
  data.frame(
    group = g$group[1], method = method, test = test, k = fit$k,
    estimate = as.numeric(fit$b), se = fit$se, statistic = fit$zval, pval = fit$pval,
    ci_lb = fit$ci.lb, ci_ub = fit$ci.ub,
    pi_lb = if (re) pr$pi.lb else NA, pi_ub = if (re) pr$pi.ub else NA,   # EE: no prediction interval
    tau2 = fit$tau2, tau2_se = if (re) fit$se.tau2 else NA,
    tau2_ci_lb = if (re) qp["tau^2", "ci.lb"] else NA, tau2_ci_ub = if (re) qp["tau^2", "ci.ub"] else NA,
    I2 = fit$I2, I2_ci_lb = if (re) qp["I^2(%)", "ci.lb"] else NA, I2_ci_ub = if (re) qp["I^2(%)", "ci.ub"] else NA,
    H2 = fit$H2, H2_ci_lb = if (re) qp["H^2", "ci.lb"] else NA, H2_ci_ub = if (re) qp["H^2", "ci.ub"] else NA,
    Q = fit$QE, Q_p = fit$QEp,
    metafor_version = as.character(packageVersion("metafor")), stringsAsFactors = FALSE)
}
results <- list()
for (name in unique(fx$group)) {
  g <- fx[fx$group == name, ]
  for (method in c("EE", "DL", "REML", "PM")) for (test in c("z", "knha")) {
    results[[length(results) + 1]] <- one_fit(g, method, test)
  }
}
write.csv(as_text(do.call(rbind, results)), results_path, row.names = FALSE)
cat(sprintf("metafor %s: %d fits of %d groups -> %s; %d effects -> %s\n", packageVersion("metafor"),
            length(results), length(unique(fx$group)), results_path, nrow(escalc_out), escalc_path))
