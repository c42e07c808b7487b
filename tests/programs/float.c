/* CPU-heavy floating point: the n-body simulation (the Benchmarks Game
 * version), a Mandelbrot set rendered as text, Simpson integration, a few
 * libm functions and printf/strtod formatting. Everything is printed with
 * fixed precision; both builds use -ffp-contract=off so no FMA changes the
 * rounding. The step count can be given as the first argument. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

typedef struct {
    double x, y, z, vx, vy, vz, mass;
} body;

static body bodies[5] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

static void advance(int n, body *b, double dt) {
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * sqrt(d2));
            b[i].vx -= dx * b[j].mass * mag;
            b[i].vy -= dy * b[j].mass * mag;
            b[i].vz -= dz * b[j].mass * mag;
            b[j].vx += dx * b[i].mass * mag;
            b[j].vy += dy * b[i].mass * mag;
            b[j].vz += dz * b[i].mass * mag;
        }
    }
    for (int i = 0; i < n; i++) {
        b[i].x += dt * b[i].vx;
        b[i].y += dt * b[i].vy;
        b[i].z += dt * b[i].vz;
    }
}

static double energy(int n, const body *b) {
    double e = 0;
    for (int i = 0; i < n; i++) {
        e += 0.5 * b[i].mass * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= b[i].mass * b[j].mass / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void offset_momentum(int n, body *b) {
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < n; i++) {
        px += b[i].vx * b[i].mass;
        py += b[i].vy * b[i].mass;
        pz += b[i].vz * b[i].mass;
    }
    b[0].vx = -px / SOLAR_MASS;
    b[0].vy = -py / SOLAR_MASS;
    b[0].vz = -pz / SOLAR_MASS;
}

static double simpson(double (*f)(double), double a, double b, int n) {
    double h = (b - a) / n, s = f(a) + f(b);
    for (int i = 1; i < n; i++)
        s += f(a + i * h) * (i % 2 ? 4 : 2);
    return s * h / 3;
}

static double inv_one_plus_sq(double x) { return 4.0 / (1.0 + x * x); }
static double cubic(double x) { return x * x * x - 2 * x + 1; }
static double gauss(double x) { return exp(-x * x); }

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 100000;
    offset_momentum(5, bodies);
    printf("n-body energy before: %.9f\n", energy(5, bodies));
    for (int i = 0; i < steps; i++)
        advance(5, bodies, 0.01);
    printf("n-body energy after %d steps: %.9f\n", steps, energy(5, bodies));
    printf("jupiter at %.6f %.6f %.6f\n", bodies[1].x, bodies[1].y, bodies[1].z);

    /* Mandelbrot: 60x24 characters, 200 iterations. */
    const char *shades = " .:-=+*#%@";
    unsigned long total_iter = 0;
    for (int row = 0; row < 24; row++) {
        char line[61];
        for (int col = 0; col < 60; col++) {
            double cr = -2.2 + col * (3.0 / 60), ci = -1.2 + row * (2.4 / 24);
            double zr = 0, zi = 0;
            int it = 0;
            while (it < 200 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            total_iter += (unsigned long)it;
            line[col] = it == 200 ? '@' : shades[it % 9];
        }
        line[60] = 0;
        printf("|%s|\n", line);
    }
    printf("mandelbrot iterations: %lu\n", total_iter);

    printf("simpson 4/(1+x^2) on [0,1] = %.12f (pi %.12f)\n", simpson(inv_one_plus_sq, 0, 1, 1000), PI);
    printf("simpson x^3-2x+1 on [-1,2] = %.12f\n", simpson(cubic, -1, 2, 10));
    printf("simpson exp(-x^2) on [-5,5] = %.10f (sqrt(pi) %.10f)\n", simpson(gauss, -5, 5, 2000),
           sqrt(PI));

    /* libm, printed with fewer digits than the last ulp. */
    printf("sin(1) %.12f cos(1) %.12f tan(0.5) %.12f\n", sin(1.0), cos(1.0), tan(0.5));
    printf("exp(1) %.12f log(10) %.12f pow(2,0.5) %.12f\n", exp(1.0), log(10.0), pow(2, 0.5));
    printf("atan2(1,-1) %.12f hypot(3,4) %.12f cbrt(27) %.12f\n", atan2(1, -1), hypot(3, 4), cbrt(27.0));
    printf("floor/ceil/round/trunc(-2.5): %.1f %.1f %.1f %.1f\n", floor(-2.5), ceil(-2.5), round(-2.5),
           trunc(-2.5));
    printf("fmod(7.5,2) %.3f remainder(7.5,2) %.3f rint(2.5) %.1f nearbyint(3.5) %.1f\n", fmod(7.5, 2),
           remainder(7.5, 2), rint(2.5), nearbyint(3.5));
    printf("fmin/fmax/copysign: %.1f %.1f %.1f\n", fmin(1, 2), fmax(1, 2), copysign(3, -0.0));

    /* Formatting and parsing. */
    volatile double zero = 0.0;
    printf("1/0 = %f, -1/0 = %f, 0/0 is nan: %d\n", 1 / zero, -1 / zero, isnan(zero / zero));
    printf("%%e %e, %%g %g, %%g %g, %%a %a\n", 12345.678, 0.0001234, 1e20, 1.5);
    printf("float: %.8f %.8e\n", (double)(1.0f / 3.0f), (double)(float)PI);
    printf("-0.0 prints as %.1f, DBL_MIN-ish %.3e, max %.3e\n", -0.0, 2.2250738585072014e-308,
           1.7976931348623157e308);
    const char *texts[] = {"3.14159", "1e-5", "-2.5e3", "0x1.8p1", "inf", "  42abc"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *end;
        double d = strtod(texts[i], &end);
        printf("strtod(\"%s\") = %.17g, consumed %d\n", texts[i], d, (int)(end - texts[i]));
    }
    double sum = 0;
    for (int i = 1; i <= 100000; i++)
        sum += 1.0 / ((double)i * i);
    printf("sum 1/n^2 (1e5 terms) = %.15f\n", sum);
    printf("(int)-3.99 = %d, (unsigned)3.99 = %u, (long long)1e18 = %lld\n", (int)-3.99,
           (unsigned)3.99, (long long)1e18);
    return 0;
}
