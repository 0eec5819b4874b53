#!/usr/bin/env Rscript
# Reference values for the meta-analysis methods beyond rma(): Mantel-Haenszel and Peto pooling,
# meta-regression and the test for subgroup differences, regression tests and trim-and-fill, and two
# edge cases (SJ with equal effects, SMD with n1 + n2 - 2 = 1). Checked by tests/test_meta_metafor.py.
#
# Writes into OUT_DIR (default tests/data/metafor_methods beside this folder):
#   <data>.csv   the data sets used, copied from R package metadat (so the tests never need R):
#                dat.bcg, dat.nielweise2007, dat.yusuf1985, dat.egger2001, dat.bangertdrowns2004,
#                and "zeros", a small constructed set with a zero cell, a double-zero and an
#                all-events table, written by this script
#   results.csv  one row per case x quantity: case, quantity, value (all digits, %.17g)
#
# Case names say what was run; "/" separates the parts:
#   mh/<data>/<measure>                 rma.mh(measure)                     (defaults: add 1/2, to "only0", drop00 TRUE)
#   peto/<data>                         rma.peto()
#   mods/<data>/<method>/<test>         rma(yi, vi, mods = ~ ablat + year, method, test)
#   subgroup/<data>/<method>/<test>     rma(yi, vi, mods = ~ factor(group)) and separate rma() fits per
#                                       group followed by rma(estimate, sei = se, method = "EE")
#   regtest/<data>/<model>/<predictor>/<method>/<test>   regtest(rma(yi, vi, method, test), model, predictor)
#   trimfill/<data>/<method>/<estimator>/<side>          trimfill(rma(yi, vi, method), estimator, side)
#
# Settings are metafor's defaults except that uniroot() for PM runs to tol = 1e-12 (metafor's default
# tol of about 1.2e-4 would dominate the comparison), as in tests/r/metafor_crosscheck.R.
#
# Usage: Rscript tests/r/metafor_methods.R [OUT_DIR]

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "tests/r"
out_dir <- normalizePath(if (length(args) >= 1) args[1] else file.path(here, "..", "data", "metafor_methods"), mustWork = FALSE)
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
exact <- list(tol = 1e-12, tau2.max = 1e8, maxiter = 10000)
ctrl <- function(method) if (method %in% c("PM", "PMM")) exact else list()
save_data <- function(df, name) write.csv(df, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE)

# ---- data sets --------------------------------------------------------------------------------
bcg <- dat.bcg[, c("trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc")]
niel <- dat.nielweise2007[, c("study", "author", "year", "ai", "n1i", "ci", "n2i")]
yusuf <- dat.yusuf1985[, c("table", "id", "trial", "ai", "n1i", "ci", "n2i")]
egger <- dat.egger2001[, c("id", "study", "year", "ai", "n1i", "ci", "n2i")]
bang <- as.data.frame(dat.bangertdrowns2004)[, c("id", "author", "year", "grade", "meta", "ni", "yi", "vi")]
bang$yi <- as.numeric(bang$yi); bang$vi <- as.numeric(bang$vi)
# constructed: zero cell (1), double zero (2), all events in both arms (6), subgroup C with one study
zeros <- data.frame(study = 1:6, ai = c(0, 0, 4, 7, 2, 10), n1i = c(20, 15, 30, 25, 40, 10),
                    ci = c(3, 0, 9, 6, 5, 12), n2i = c(21, 16, 31, 24, 38, 12),
                    group = c("A", "A", "B", "B", "C", "A"))
save_data(bcg, "bcg"); save_data(niel, "nielweise2007"); save_data(yusuf, "yusuf1985")
save_data(egger, "egger2001"); save_data(bang, "bangertdrowns2004"); save_data(zeros, "zeros")

tables <- list(bcg = with(bcg, list(ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg)),
               nielweise2007 = as.list(niel[, c("ai", "n1i", "ci", "n2i")]),
               egger2001 = as.list(egger[-16, c("ai", "n1i", "ci", "n2i")]),   # ISIS-4 left out, as in regtest's help
               zeros = as.list(zeros[, c("ai", "n1i", "ci", "n2i")]))
for (t in sort(unique(yusuf$table))) tables[[paste0("yusuf1985_t", t)]] <- as.list(yusuf[yusuf$table == t, c("ai", "n1i", "ci", "n2i")])

# ---- 1. Mantel-Haenszel and Peto ------------------------------------------------------------------
for (name in names(tables)) {
  tb <- tables[[name]]
  for (measure in c("OR", "RR", "RD")) {
    fit <- suppressWarnings(rma.mh(ai = tb$ai, n1i = tb$n1i, ci = tb$ci, n2i = tb$n2i, measure = measure))
    put(paste("mh", name, measure, sep = "/"), estimate = as.numeric(fit$beta), se = fit$se, zval = fit$zval,
        pval = fit$pval, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, Q = fit$QE, Q_p = fit$QEp, I2 = fit$I2,
        H2 = fit$H2, k = fit$k, k_yi = fit$k.yi, cmh = fit$MH, cmh_p = fit$MHp, weights = as.numeric(weights(fit)))
  }
  fit <- suppressWarnings(rma.peto(ai = tb$ai, n1i = tb$n1i, ci = tb$ci, n2i = tb$n2i))
  put(paste("peto", name, sep = "/"), estimate = as.numeric(fit$beta), se = fit$se, zval = fit$zval,
      pval = fit$pval, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, Q = fit$QE, Q_p = fit$QEp, I2 = fit$I2, H2 = fit$H2,
      k = fit$k, k_yi = fit$k.yi, weights = as.numeric(weights(fit)))
}

# ---- effect sizes for the rma()-based methods (escalc defaults) -----------------------------------
es <- function(tb, measure) { e <- escalc(measure, ai = tb$ai, n1i = tb$n1i, ci = tb$ci, n2i = tb$n2i)
                              list(yi = as.numeric(e$yi), vi = as.numeric(e$vi), ni = tb$n1i + tb$n2i) }
effects <- list(bcg_rr = c(es(tables$bcg, "RR"), list(group = bcg$alloc, ablat = bcg$ablat, year = bcg$year)),
                bcg_or = c(es(tables$bcg, "OR"), list(group = bcg$alloc)),
                egger2001_or = es(tables$egger2001, "OR"),
                nielweise2007_or = es(tables$nielweise2007, "OR"),
                zeros_or = c(es(tables$zeros, "OR"), list(group = zeros$group)))
bm <- bang[!is.na(bang$meta), ]
effects$bangertdrowns2004_meta <- list(yi = bm$yi, vi = bm$vi, ni = bm$ni, group = bm$meta)
effects$bangertdrowns2004_grade <- list(yi = bang$yi, vi = bang$vi, ni = bang$ni, group = bang$grade)

methods <- c("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM")

# ---- 2. meta-regression with two moderators ---------------------------------------------------
e <- effects$bcg_rr
for (method in methods) for (test in c("z", "knha")) {
  fit <- suppressWarnings(rma(e$yi, e$vi, mods = ~ e$ablat + e$year, method = method, test = test, control = ctrl(method)))
  put(paste("mods", "bcg_rr", method, test, sep = "/"), beta = as.numeric(fit$beta), se = fit$se,
      zval = fit$zval, pval = fit$pval, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, tau2 = fit$tau2,
      tau2_se = if (method == "EE") NA else fit$se.tau2, QE = fit$QE, QE_p = fit$QEp, QM = fit$QM,
      QM_p = fit$QMp, I2 = fit$I2, H2 = fit$H2)
}

# ---- 3. subgroup differences ----------------------------------------------------------------------
for (name in c("bcg_rr", "bcg_or", "zeros_or", "bangertdrowns2004_meta", "bangertdrowns2004_grade")) {
  e <- effects[[name]]
  g <- factor(e$group)
  for (method in c("EE", "DL", "REML", "PM")) for (test in c("z", "knha")) {
    fit <- suppressWarnings(rma(e$yi, e$vi, mods = ~ g, method = method, test = test, control = ctrl(method)))
    sep <- lapply(levels(g), function(l) suppressWarnings(
      rma(e$yi[g == l], e$vi[g == l], method = method, test = test, control = ctrl(method))))
    est <- sapply(sep, function(f) as.numeric(f$beta)); se <- sapply(sep, function(f) f$se)
    qb <- rma(est, sei = se, method = "EE")
    put(paste("subgroup", name, method, test, sep = "/"), QM = fit$QM, QM_df1 = fit$QMdf[1],
        QM_df2 = fit$QMdf[2], QM_p = fit$QMp, tau2 = fit$tau2, QE = fit$QE, QE_p = fit$QEp,
        beta = as.numeric(fit$beta), se = fit$se, Qb = qb$QE, Qb_df = qb$k - 1, Qb_p = qb$QEp,
        group_estimate = est, group_se = se, group_tau2 = sapply(sep, function(f) f$tau2))
  }
}

# ---- 4. regression tests ----------------------------------------------------------------------------
reg_cases <- list(
  list("bcg_rr", "rma", "sei", "REML", "knha"), list("bcg_rr", "rma", "sei", "REML", "z"),
  list("bcg_rr", "rma", "sei", "DL", "z"), list("bcg_rr", "rma", "sei", "EE", "z"),
  list("bcg_rr", "rma", "vi", "ML", "z"), list("bcg_rr", "lm", "sei", "REML", "z"),
  list("bcg_rr", "rma", "ninv", "PM", "knha"),
  list("egger2001_or", "rma", "sei", "REML", "z"), list("egger2001_or", "lm", "sei", "REML", "z"),
  list("egger2001_or", "rma", "ni", "REML", "z"), list("egger2001_or", "lm", "ni", "REML", "z"),
  list("egger2001_or", "lm", "ninv", "REML", "z"), list("egger2001_or", "rma", "ninv", "REML", "z"),
  list("egger2001_or", "rma", "sqrtninv", "DL", "knha"), list("egger2001_or", "lm", "sqrtni", "REML", "z"),
  list("nielweise2007_or", "rma", "sei", "REML", "z"), list("nielweise2007_or", "lm", "sei", "REML", "z"),
  list("bangertdrowns2004_grade", "rma", "sei", "REML", "z"), list("bangertdrowns2004_grade", "rma", "vi", "HE", "knha"))
for (rc in reg_cases) {
  e <- effects[[rc[[1]]]]
  fit <- suppressWarnings(rma(e$yi, e$vi, ni = e$ni, method = rc[[4]], test = rc[[5]], control = ctrl(rc[[4]])))
  rt <- regtest(fit, model = rc[[2]], predictor = rc[[3]])
  put(paste("regtest", paste(unlist(rc), collapse = "/"), sep = "/"), statistic = rt$zval, pval = rt$pval,
      df = if (is.null(rt$dfs)) NA else rt$dfs, limit_estimate = if (is.null(rt$est)) NA else as.numeric(rt$est),
      limit_ci_lb = if (is.null(rt$ci.lb)) NA else rt$ci.lb, limit_ci_ub = if (is.null(rt$ci.ub)) NA else rt$ci.ub)
}

# ---- 5. trim and fill ---------------------------------------------------------------------------------
tf_cases <- list(
  list("bcg_rr", "EE", "L0", "auto"), list("bcg_rr", "REML", "L0", "auto"), list("bcg_rr", "DL", "L0", "auto"),
  list("bcg_rr", "EE", "R0", "auto"), list("bcg_rr", "REML", "Q0", "auto"), list("bcg_rr", "REML", "L0", "left"),
  list("bcg_or", "ML", "L0", "auto"),
  list("egger2001_or", "REML", "L0", "auto"), list("egger2001_or", "EE", "L0", "auto"),
  list("egger2001_or", "DL", "R0", "right"),
  list("nielweise2007_or", "REML", "L0", "auto"), list("nielweise2007_or", "EE", "L0", "auto"),
  list("bangertdrowns2004_grade", "REML", "L0", "auto"), list("bangertdrowns2004_grade", "PM", "L0", "auto"))
for (tc in tf_cases) {
  e <- effects[[tc[[1]]]]
  fit <- suppressWarnings(rma(e$yi, e$vi, method = tc[[2]], control = ctrl(tc[[2]])))
  tf <- if (tc[[4]] == "auto") trimfill(fit, estimator = tc[[3]]) else trimfill(fit, estimator = tc[[3]], side = tc[[4]])
  filled <- tf$yi[tf$fill]
  put(paste("trimfill", paste(unlist(tc), collapse = "/"), sep = "/"), k0 = tf$k0, k0_se = tf$se.k0,
      k0_p = tf$p.k0, side = tf$side, estimate = as.numeric(tf$beta), se = tf$se, ci_lb = tf$ci.lb,
      ci_ub = tf$ci.ub, tau2 = tf$tau2, Q = tf$QE, k = tf$k)
  if (length(filled)) put(paste("trimfill", paste(unlist(tc), collapse = "/"), sep = "/"),
                          yi_filled = as.numeric(filled), vi_filled = as.numeric(tf$vi[tf$fill]))
}

# ---- 6. edge cases -----------------------------------------------------------------------------------
fit <- rma(c(0.1, 0.1, 0.1), c(0.1, 0.2, 0.3), method = "SJ")
put("edge/sj_equal", tau2 = fit$tau2, estimate = as.numeric(fit$beta), se = fit$se)
sm <- escalc("SMD", m1i = c(1, 1, 1), sd1i = c(1, 1, 1), n1i = c(1, 1, 2), m2i = c(0, 0, 0), sd2i = c(1, 1, 1),
             n2i = c(2, 1, 2))
put("edge/smd_small", yi = as.numeric(sm$yi), vi = as.numeric(sm$vi))

out <- as.data.frame(do.call(rbind, rows), stringsAsFactors = FALSE)
names(out) <- c("case", "quantity", "value")
out <- rbind(out, data.frame(case = "meta", quantity = "metafor_version", value = as.character(packageVersion("metafor"))))
write.csv(out, file.path(out_dir, "results.csv"), row.names = FALSE)
cat(sprintf("metafor %s: %d values of %d cases -> %s\n", packageVersion("metafor"), nrow(out),
            length(unique(out$case)), out_dir))
